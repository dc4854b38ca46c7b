// The console's reads, as TanStack Query options: one place for query keys and polling rates.
import { queryOptions } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../api/client';
import { ApiError } from '../api/problem';

export type Overview = Schemas['Overview'];
export type SalesSeries = Schemas['SalesSeries'];
type Bucket = Schemas['Bucket'];
export type Funnel = Schemas['Funnel'];
export type SellThrough = Schemas['SellThrough'];
export type Heatmap = Schemas['Heatmap'];
export type Report = Schemas['Report'];
export type ReportKind = Schemas['ReportKind'];
export type EventStatus = Schemas['EventStatus'];

/** Live figures refresh this often (ms). */
const LIVE_MS = 3_000;
const HEATMAP_MS = 5_000;
const REPORT_PENDING_MS = 2_000;
const SEAT_STATUS_MS = 15_000;

export const adminKeys = {
  all: ['admin'] as const,
  venues: ['admin', 'venues'] as const,
  events: ['admin', 'events'] as const,
  reports: ['admin', 'reports'] as const,
};

export const overviewQuery = queryOptions({
  queryKey: ['admin', 'overview'],
  queryFn: () => unwrap(api.GET('/api/admin/stats/overview')),
  refetchInterval: LIVE_MS,
});

const HOUR_MS = 3_600_000;
/** Hour buckets up to three days; longer sales read better by the day (the API allows 1,098 days). */
const HOURLY_UP_TO_MS = 72 * HOUR_MS;
const MAX_DAYS_MS = 1_098 * 24 * HOUR_MS;

/** The sales range to chart: from `since` (a sale opening) until now, else the last 24 hours. */
export function salesRange(since: string | undefined, now: Date): { from: Date; bucket: Bucket } {
  const start = since ? new Date(since) : null;
  if (!start || start >= now) return { from: new Date(now.getTime() - 24 * HOUR_MS), bucket: 'hour' };
  const span = now.getTime() - start.getTime();
  if (span <= HOURLY_UP_TO_MS) return { from: start, bucket: 'hour' };
  return { from: new Date(Math.max(start.getTime(), now.getTime() - MAX_DAYS_MS)), bucket: 'day' };
}

/** Sales of one event (or all); the range is recomputed at every poll so the chart keeps moving. */
export function salesQuery(eventId?: string, since?: string) {
  return queryOptions({
    queryKey: ['admin', 'sales', eventId ?? 'all', since ?? ''],
    queryFn: () => {
      const now = new Date();
      const { from, bucket } = salesRange(since, now);
      const query = { bucket, from: from.toISOString(), to: now.toISOString(), event_id: eventId };
      return unwrap(api.GET('/api/admin/stats/sales', { params: { query } }));
    },
    refetchInterval: LIVE_MS,
  });
}

export function funnelQuery(eventId: string) {
  return queryOptions({
    queryKey: ['admin', 'funnel', eventId],
    queryFn: () => unwrap(api.GET('/api/admin/stats/funnel', { params: { query: { event_id: eventId } } })),
    refetchInterval: LIVE_MS,
  });
}

export function sectionsQuery(eventId: string) {
  return queryOptions({
    queryKey: ['admin', 'sections', eventId],
    queryFn: () => unwrap(api.GET('/api/admin/stats/events/{id}/sections', { params: { path: { id: eventId } } })),
    refetchInterval: HEATMAP_MS,
  });
}

/**
 * Whether a per-event statistics read failed only because the statistics have not recorded the
 * event yet: they follow the catalogue through the event stream, a second or two behind, so a
 * dashboard opened as the event is made asks before they know it. The read keeps polling.
 */
export function statsNotYet(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}

export function heatmapQuery(eventId: string) {
  return queryOptions({
    queryKey: ['admin', 'heatmap', eventId],
    queryFn: () => unwrap(api.GET('/api/admin/stats/events/{id}/heatmap', { params: { path: { id: eventId } } })),
    refetchInterval: HEATMAP_MS,
  });
}

export function seatLayoutQuery(eventId: string) {
  return queryOptions({
    queryKey: ['admin', 'seat-layout', eventId],
    queryFn: () => unwrap(api.GET('/api/events/{id}/seats', { params: { path: { id: eventId } } })),
    // Only the statuses named on hover move here (the heatmap carries the live colours): refresh gently.
    refetchInterval: SEAT_STATUS_MS,
  });
}

export function eventQuery(eventId: string) {
  return queryOptions({
    queryKey: ['admin', 'events', 'detail', eventId],
    queryFn: () => unwrap(api.GET('/api/events/{id}', { params: { path: { id: eventId } } })),
  });
}

export function eventsQuery(status?: EventStatus, q?: string) {
  return queryOptions({
    queryKey: ['admin', 'events', 'list', status ?? '', q ?? ''],
    queryFn: () => unwrap(api.GET('/api/events', { params: { query: { status, q: q || undefined, limit: 100 } } })),
  });
}

export function venuesQuery(page = 1) {
  return queryOptions({
    queryKey: ['admin', 'venues', page],
    queryFn: () => unwrap(api.GET('/api/admin/venues', { params: { query: { page, limit: 100 } } })),
  });
}

export const reportsQuery = queryOptions({
  queryKey: ['admin', 'reports'],
  queryFn: () => unwrap(api.GET('/api/admin/reports')),
  // Poll only while a report is being built.
  refetchInterval: (query) => (query.state.data?.items.some((r) => r.status === 'pending') ? REPORT_PENDING_MS : false),
});

export const configQuery = queryOptions({
  queryKey: ['config'],
  queryFn: () => unwrap(api.GET('/api/config')),
  staleTime: Infinity,
});
