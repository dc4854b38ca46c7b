// Create a venue: name, address and its sections, with a live sketch of the layout.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { useI18n } from '../i18n';
import { Button, Card, ErrorMessage, Field, inputClass, PageTitle } from '../ui';
import { fieldError, useFocusFirstInvalid } from './parts';
import { adminKeys } from './queries';
import { VenuePreview } from './VenuePreview';

interface SectionDraft {
  key: number;
  name: string;
  rows: string;
  perRow: string;
  price: string;
}

let nextKey = 0;
const blank = (name = ''): SectionDraft => ({ key: nextKey++, name, rows: '10', perRow: '20', price: '' });
const whole = (value: string) => (/^\d+$/.test(value.trim()) ? Number(value) : NaN);

export default function VenueForm() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const client = useQueryClient();
  const form = useRef<HTMLFormElement>(null);
  const [name, setName] = useState('');
  const [address, setAddress] = useState('');
  const [sections, setSections] = useState<SectionDraft[]>(() => [blank('R')]);
  const [added, setAdded] = useState<number | null>(null);

  // Numbers that are not whole numbers are caught here; everything else the server checks.
  const [local, setLocal] = useState<Record<string, string>>({});
  const create = useMutation({
    mutationFn: (body: Schemas['VenueInput']) => unwrap(api.POST('/api/admin/venues', { body })),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: adminKeys.venues });
      navigate('/admin/venues');
    },
  });
  useFocusFirstInvalid(form, create.error);
  useFocusFirstInvalid(form, local);
  const error = (field: string) => local[field] ?? fieldError(create.error, field);

  const update = (key: number, patch: Partial<SectionDraft>) =>
    setSections((all) => all.map((s) => (s.key === key ? { ...s, ...patch } : s)));
  const add = () => {
    const section = blank();
    setSections((all) => [...all, section]);
    setAdded(section.key);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    const number = (value: string, field: string) => {
      const n = whole(value);
      if (Number.isNaN(n)) problems[field] = t('admin.form.wholeNumber');
      return n;
    };
    const body = {
      name,
      address: address.trim() || null,
      sections: sections.map((s, i) => ({
        name: s.name,
        rows: number(s.rows, `sections[${i}].rows`),
        seats_per_row: number(s.perRow, `sections[${i}].seats_per_row`),
        price: number(s.price, `sections[${i}].price`),
      })),
    };
    setLocal(problems);
    if (Object.keys(problems).length === 0) create.mutate(body);
  };
  const shapes = sections.map((s) => ({ name: s.name, rows: whole(s.rows) || 0, perRow: whole(s.perRow) || 0 }));

  return (
    <>
      <PageTitle sub={t('admin.venue.subtitle')}>{t('admin.venues.new')}</PageTitle>
      <div className="grid gap-6 lg:grid-cols-2">
        <form ref={form} onSubmit={submit} noValidate className="min-w-0 space-y-5">
          <Card className="space-y-4">
            <Field label={t('admin.venue.name')} error={error('name')}>
              <input className={inputClass} value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} aria-invalid={!!error('name')} />
            </Field>
            <Field label={t('admin.venue.address')} error={error('address')} hint={t('admin.optional')}>
              <input className={inputClass} value={address} onChange={(e) => setAddress(e.target.value)} maxLength={500} aria-invalid={!!error('address')} />
            </Field>
          </Card>
          {sections.map((s, i) => {
            const at = (field: string) => error(`sections[${i}].${field}`);
            return (
              <fieldset key={s.key} className="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200">
                <legend className="float-left mb-3 w-full font-bold">{t('admin.venue.section', { n: i + 1 })}</legend>
                <div className="clear-both grid gap-3 sm:grid-cols-2">
                  <Field label={t('admin.venue.sectionName')} error={at('name')}>
                    <input
                      className={inputClass}
                      value={s.name}
                      onChange={(e) => update(s.key, { name: e.target.value })}
                      required
                      maxLength={100}
                      aria-invalid={!!at('name')}
                      autoFocus={s.key === added}
                    />
                  </Field>
                  <Field label={t('admin.venue.price')} error={at('price')}>
                    <input className={inputClass} type="number" min={0} step={1000} value={s.price} onChange={(e) => update(s.key, { price: e.target.value })} required aria-invalid={!!at('price')} />
                  </Field>
                  <Field label={t('admin.venue.rows')} error={at('rows')} hint={t('admin.venue.range')}>
                    <input className={inputClass} type="number" min={1} max={1000} value={s.rows} onChange={(e) => update(s.key, { rows: e.target.value })} required aria-invalid={!!at('rows')} />
                  </Field>
                  <Field label={t('admin.venue.perRow')} error={at('seats_per_row')} hint={t('admin.venue.range')}>
                    <input className={inputClass} type="number" min={1} max={1000} value={s.perRow} onChange={(e) => update(s.key, { perRow: e.target.value })} required aria-invalid={!!at('seats_per_row')} />
                  </Field>
                </div>
                {sections.length > 1 && (
                  <div className="mt-3 text-right">
                    <Button variant="ghost" onClick={() => setSections((all) => all.filter((x) => x.key !== s.key))}>
                      {t('admin.venue.remove', { n: i + 1 })}
                    </Button>
                  </div>
                )}
              </fieldset>
            );
          })}
          {error('sections') && <p className="text-sm text-red-700">{error('sections')}</p>}
          <div className="flex flex-wrap gap-3">
            <Button variant="secondary" onClick={add} disabled={sections.length >= 200}>
              {t('admin.venue.add')}
            </Button>
            <Button type="submit" busy={create.isPending}>
              {t('admin.venue.create')}
            </Button>
          </div>
          {create.isError && <ErrorMessage error={create.error} />}
        </form>
        <Card className="min-w-0 self-start lg:sticky lg:top-20">
          <VenuePreview sections={shapes} />
        </Card>
      </div>
    </>
  );
}
