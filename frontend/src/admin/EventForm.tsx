// The event form, shared by create and edit: texts, venue, sale window (Korea time) and waiting room.
import { useQuery } from '@tanstack/react-query';
import { useRef, useState, type ChangeEvent, type FormEvent, type InputHTMLAttributes } from 'react';
import type { EventDetail, Schemas } from '../api/client';
import { useI18n } from '../i18n';
import { Button, Card, ErrorMessage, Field, inputClass, TextLink } from '../ui';
import { fieldError, useFocusFirstInvalid, useFormats } from './parts';
import { venuesQuery } from './queries';
import { fromKstInput, toKstInput } from './time';

type EventInput = Schemas['EventInput'];
type EventPatch = Schemas['EventPatch'];

export interface EventValues {
  title: string;
  artist: string;
  description: string;
  venueId: string;
  startsAt: string;
  opensAt: string;
  closesAt: string;
  maxSeats: string;
  posterUrl: string;
  roomEnabled: boolean;
  maxActive: string;
  admitPerMinute: string;
}

/** The form's values for an event, or the defaults for a new one (the server's own defaults). */
export function valuesOf(event?: EventDetail): EventValues {
  return {
    title: event?.title ?? '',
    artist: event?.artist ?? '',
    description: event?.description ?? '',
    venueId: event?.venue.id ?? '',
    startsAt: event ? toKstInput(event.starts_at) : '',
    opensAt: event ? toKstInput(event.sale_opens_at) : '',
    closesAt: event ? toKstInput(event.sale_closes_at) : '',
    maxSeats: String(event?.max_seats_per_order ?? 4),
    posterUrl: event?.poster_url ?? '',
    roomEnabled: event?.waiting_room.enabled ?? false,
    maxActive: String(event?.waiting_room.max_active ?? 500),
    admitPerMinute: String(event?.waiting_room.admit_per_minute ?? 1000),
  };
}

type Problem = 'required' | 'whole';

/** The API body, or what the form can already tell is wrong (by API field name). */
export function readValues(v: EventValues): { input: EventInput | null; problems: Record<string, Problem> } {
  const problems: Record<string, Problem> = {};
  const time = (value: string, field: string) => {
    const iso = fromKstInput(value);
    if (!iso) problems[field] = 'required';
    return iso ?? '';
  };
  const whole = (value: string, field: string) => {
    if (!/^\d+$/.test(value.trim())) problems[field] = 'whole';
    return Number(value);
  };
  if (!v.venueId) problems.venue_id = 'required';
  const input: EventInput = {
    title: v.title,
    artist: v.artist,
    description: v.description.trim() ? v.description : null,
    venue_id: v.venueId,
    starts_at: time(v.startsAt, 'starts_at'),
    sale_opens_at: time(v.opensAt, 'sale_opens_at'),
    sale_closes_at: time(v.closesAt, 'sale_closes_at'),
    max_seats_per_order: whole(v.maxSeats, 'max_seats_per_order'),
    poster_url: v.posterUrl.trim() || null,
    waiting_room: {
      enabled: v.roomEnabled,
      max_active: whole(v.maxActive, 'waiting_room.max_active'),
      admit_per_minute: whole(v.admitPerMinute, 'waiting_room.admit_per_minute'),
    },
  };
  return { input: Object.keys(problems).length ? null : input, problems };
}

// Which form values make up each API field, to send only what the operator changed.
const PATCHED: [keyof EventPatch, (keyof EventValues)[]][] = [
  ['title', ['title']],
  ['artist', ['artist']],
  ['description', ['description']],
  ['starts_at', ['startsAt']],
  ['sale_opens_at', ['opensAt']],
  ['sale_closes_at', ['closesAt']],
  ['max_seats_per_order', ['maxSeats']],
  ['poster_url', ['posterUrl']],
  ['waiting_room', ['roomEnabled', 'maxActive', 'admitPerMinute']],
];

export function patchOf(input: EventInput, before: EventValues, after: EventValues): EventPatch {
  const changed = PATCHED.filter(([, keys]) => keys.some((k) => before[k] !== after[k]));
  const patch = Object.fromEntries(changed.map(([field]) => [field, input[field]])) as EventPatch;
  // An emptied description is sent as "" (null would mean "unchanged").
  if ('description' in patch && patch.description == null) patch.description = '';
  return patch;
}

interface Props {
  initial: EventValues;
  /** Edit: the venue cannot change once seats exist, so it is shown instead of chosen. */
  fixedVenue?: string;
  submitLabel: string;
  busy: boolean;
  error: unknown;
  onSubmit: (input: EventInput, values: EventValues) => void;
}

export function EventForm({ initial, fixedVenue, submitLabel, busy, error, onSubmit }: Props) {
  const { t } = useI18n();
  const form = useRef<HTMLFormElement>(null);
  const [v, setV] = useState(initial);
  const [problems, setProblems] = useState<Record<string, Problem>>({});
  useFocusFirstInvalid(form, error);
  useFocusFirstInvalid(form, problems);
  const message = (field: string) => {
    const local = problems[field];
    if (local) return t(local === 'required' ? 'admin.form.required' : 'admin.form.wholeNumber');
    return fieldError(error, field);
  };
  // The props every text-like input shares: its value, its error state and the class.
  const text = (key: keyof EventValues, field: string, extra: InputHTMLAttributes<HTMLInputElement> = {}) => ({
    className: inputClass,
    value: String(v[key]),
    onChange: (e: ChangeEvent<HTMLInputElement>) => setV((old) => ({ ...old, [key]: e.target.value })),
    'aria-invalid': !!message(field),
    ...extra,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const { input, problems } = readValues(v);
    setProblems(problems);
    if (input) onSubmit(input, v);
  };

  return (
    <form ref={form} onSubmit={submit} noValidate className="space-y-5">
      <Card className="space-y-4">
        <Field label={t('admin.event.title')} error={message('title')}>
          <input {...text('title', 'title', { required: true, maxLength: 200 })} />
        </Field>
        <Field label={t('admin.event.artist')} error={message('artist')}>
          <input {...text('artist', 'artist', { required: true, maxLength: 200 })} />
        </Field>
        <Field label={t('admin.event.description')} error={message('description')} hint={t('admin.optional')}>
          <textarea
            className={`${inputClass} min-h-24`}
            value={v.description}
            onChange={(e) => setV((old) => ({ ...old, description: e.target.value }))}
            maxLength={10_000}
            aria-invalid={!!message('description')}
          />
        </Field>
        {fixedVenue != null ? (
          <div>
            <p className="mb-1 text-sm font-semibold text-slate-800">{t('admin.events.venue')}</p>
            <p>{fixedVenue}</p>
            <p className="mt-1 text-xs text-slate-600">{t('admin.event.venueFixed')}</p>
          </div>
        ) : (
          <VenueSelect value={v.venueId} error={message('venue_id')} onChange={(venueId) => setV((old) => ({ ...old, venueId }))} />
        )}
        <Field label={t('admin.event.poster')} error={message('poster_url')} hint={t('admin.event.posterHint')}>
          <input {...text('posterUrl', 'poster_url', { type: 'url', inputMode: 'url', placeholder: 'https://' })} />
        </Field>
      </Card>
      <Card>
        <fieldset className="space-y-4">
          <legend className="text-lg font-bold">{t('admin.event.schedule')}</legend>
          <p className="text-sm text-slate-600">{t('admin.event.kst')}</p>
          <div className="grid gap-4 sm:grid-cols-3">
            <Field label={t('admin.event.opens')} error={message('sale_opens_at')}>
              <input {...text('opensAt', 'sale_opens_at', { type: 'datetime-local', required: true })} />
            </Field>
            <Field label={t('admin.event.closes')} error={message('sale_closes_at')}>
              <input {...text('closesAt', 'sale_closes_at', { type: 'datetime-local', required: true })} />
            </Field>
            <Field label={t('admin.event.starts')} error={message('starts_at')}>
              <input {...text('startsAt', 'starts_at', { type: 'datetime-local', required: true })} />
            </Field>
          </div>
          <Field label={t('admin.event.maxSeats')} error={message('max_seats_per_order')} hint={t('admin.event.maxSeatsHint')}>
            <input {...text('maxSeats', 'max_seats_per_order', { type: 'number', min: 1, max: 20, required: true })} />
          </Field>
        </fieldset>
      </Card>
      <Card>
        <fieldset className="space-y-4">
          <legend className="text-lg font-bold">{t('admin.event.room')}</legend>
          <label className="flex items-center gap-3">
            <input
              type="checkbox"
              className="h-5 w-5 accent-brand-700"
              checked={v.roomEnabled}
              onChange={(e) => setV((old) => ({ ...old, roomEnabled: e.target.checked }))}
            />
            <span className="font-medium">{t('admin.event.roomEnabled')}</span>
          </label>
          {v.roomEnabled && (
            <div className="grid gap-4 sm:grid-cols-2">
              <Field label={t('admin.event.maxActive')} error={message('waiting_room.max_active')} hint={t('admin.event.maxActiveHint')}>
                <input {...text('maxActive', 'waiting_room.max_active', { type: 'number', min: 1, required: true })} />
              </Field>
              <Field label={t('admin.event.admitPerMinute')} error={message('waiting_room.admit_per_minute')}>
                <input {...text('admitPerMinute', 'waiting_room.admit_per_minute', { type: 'number', min: 1, required: true })} />
              </Field>
            </div>
          )}
        </fieldset>
      </Card>
      {error != null && <ErrorMessage error={error} />}
      <Button type="submit" busy={busy}>
        {submitLabel}
      </Button>
    </form>
  );
}

function VenueSelect({ value, error, onChange }: { value: string; error?: string; onChange: (id: string) => void }) {
  const { t } = useI18n();
  const f = useFormats();
  const venues = useQuery(venuesQuery());
  if (venues.isError) return <ErrorMessage error={venues.error} retry={() => void venues.refetch()} />;
  if (venues.data?.items.length === 0) {
    return (
      <p className="text-sm text-slate-700">
        {t('admin.event.noVenues')} <TextLink to="/admin/venues/new">{t('admin.venues.new')}</TextLink>
      </p>
    );
  }
  return (
    <Field label={t('admin.events.venue')} error={error}>
      <select className={inputClass} value={value} onChange={(e) => onChange(e.target.value)} required aria-invalid={!!error} disabled={venues.isPending}>
        <option value="">{venues.isPending ? t('admin.loading') : t('admin.event.pickVenue')}</option>
        {venues.data?.items.map((venue) => (
          <option key={venue.id} value={venue.id}>
            {venue.name} ({t('admin.venues.capacity', { seats: f.number(venue.seat_count) })})
          </option>
        ))}
      </select>
    </Field>
  );
}
