// The live seat map: a store kept current over the socket, drawn on a canvas, and listed for
// keyboard and screen-reader users. See each file for the why.

export { SeatStore, STATUSES } from './store';
export type { ApplyResult, Changed, SeatChanges, SeatStatus, StoreListener } from './store';
export { layoutSeats, seatAt, sectionAt, CELL, SEAT } from './layout';
export type { Layout, LayoutSeat, Rect, SectionBox } from './layout';
export { priceTiers, TIER_COLOURS, HELD_COLOUR, SOLD_COLOUR, SELECTED_COLOUR } from './tiers';
export type { PriceTier } from './tiers';
export { useLiveSeatMap, fetchSeatMap } from './live';
export type { LiveSeatMap } from './live';
export { SeatSync, StaleMapError } from './sync';
export type { LiveState, SyncDeps, SyncSnapshot } from './sync';
export { SeatCanvas } from './SeatCanvas';
export type { SeatCanvasProps } from './SeatCanvas';
export { SeatList } from './SeatList';
export type { SeatListProps } from './SeatList';
export { Legend } from './Legend';
export type { Paint } from './draw';
export type { Selectable } from './selection';
export { strings, useSeatStrings } from './strings';
export type { SeatStrings } from './strings';
