// The seat map's own UI strings (the shared dictionaries belong to other areas): same keys in both
// languages, checked by the type of `en`.

import { useI18n } from '../i18n';
import type { SeatStatus } from './store';

const ko = {
  stage: '무대',
  zoomIn: '확대',
  zoomOut: '축소',
  fit: '전체 보기',
  hint: '끌어서 이동하고, 휠이나 두 손가락으로 확대하세요. 구역 이름을 누르면 그 구역을 크게 봅니다.',
  status: { available: '예매 가능', held: '다른 고객이 선택 중', sold: '판매 완료' } satisfies Record<SeatStatus, string>,
  selected: '선택한 좌석',
  legend: '범례',
  seatList: '좌석 목록',
  /** "VIP — 220,000원 — 잔여 120 / 500석" */
  sectionSummary: (name: string, price: string, available: string, total: string) =>
    `${name} — ${price} — 잔여 ${available} / ${total}석`,
  row: (row: string) => `${row}열`,
  rowSummary: (row: string, available: string) => `${row}열 — 잔여 ${available}석`,
  /** A seat's accessible name: its label, price and status. */
  seatName: (label: string, price: string, status: string) => `${label}, ${price}, ${status}`,
  hovered: (label: string, price: string, status: string) => `${label} · ${price} · ${status}`,
};

export type SeatStrings = typeof ko;

const en: SeatStrings = {
  stage: 'STAGE',
  zoomIn: 'Zoom in',
  zoomOut: 'Zoom out',
  fit: 'Show the whole map',
  hint: 'Drag to move, scroll or pinch to zoom. Click a section name to zoom into it.',
  status: { available: 'Available', held: 'Held', sold: 'Sold' },
  selected: 'Selected',
  legend: 'Legend',
  seatList: 'Seat list',
  sectionSummary: (name, price, available, total) => `${name} — ${price} — ${available} of ${total} available`,
  row: (row) => `Row ${row}`,
  rowSummary: (row, available) => `Row ${row} — ${available} available`,
  seatName: (label, price, status) => `${label}, ${price}, ${status}`,
  hovered: (label, price, status) => `${label} · ${price} · ${status}`,
};

export const strings = { ko, en };

export function useSeatStrings(): SeatStrings {
  return strings[useI18n().lang];
}
