import { Link } from 'react-router';
import type { EventSummary } from '../api/client';
import { useI18n } from '../i18n';
import { Badge } from '../ui';

/** A poster, or a gradient derived from the event id when it has none. */
export function Poster({ event, className = '' }: { event: Pick<EventSummary, 'id' | 'title' | 'poster_url'>; className?: string }) {
  if (event.poster_url) return <img src={event.poster_url} alt="" loading="lazy" className={`object-cover ${className}`} />;
  const hue = [...event.id].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 0);
  return (
    <div
      aria-hidden="true"
      className={`flex items-end p-4 text-xl font-extrabold text-white ${className}`}
      style={{ background: `linear-gradient(135deg, hsl(${hue} 60% 35%), hsl(${(hue + 60) % 360} 65% 25%))` }}
    >
      <span className="line-clamp-2">{event.title}</span>
    </div>
  );
}

export function EventCard({ event }: { event: EventSummary }) {
  const { t, won, dateTime } = useI18n();
  const price = event.min_price === event.max_price ? won(event.min_price) : `${won(event.min_price)} – ${won(event.max_price)}`;
  return (
    <Link
      to={`/events/${event.id}`}
      className="group overflow-hidden rounded-2xl bg-white shadow-sm ring-1 ring-slate-200 transition hover:-translate-y-0.5 hover:shadow-md"
    >
      <Poster event={event} className="aspect-[4/3] w-full" />
      <div className="space-y-1 p-4">
        <Badge tone={event.status}>{t(`status.${event.status}`)}</Badge>
        <h3 className="text-lg font-bold group-hover:text-brand-700">{event.title}</h3>
        <p className="text-sm text-slate-700">{event.artist}</p>
        <p className="text-sm text-slate-600">
          {dateTime(event.starts_at)} · {event.venue.name}
        </p>
        <p className="text-sm font-semibold">{price}</p>
      </div>
    </Link>
  );
}
