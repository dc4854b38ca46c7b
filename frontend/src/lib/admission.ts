// The waiting room's admission token for an event, kept for this tab (it is presented as
// `X-Admission-Token` when holding seats) until it expires.
export interface Admission {
  token: string;
  expiresAt: string;
}

const key = (eventId: string) => `tiketi.admission.${eventId}`;

export function admission(eventId: string, now = Date.now()): Admission | null {
  const raw = sessionStorage.getItem(key(eventId));
  if (!raw) return null;
  try {
    const value = JSON.parse(raw) as Admission;
    if (Date.parse(value.expiresAt) > now) return value;
  } catch {
    // a damaged entry is as good as none
  }
  sessionStorage.removeItem(key(eventId));
  return null;
}

export function admit(eventId: string, token: string, expiresAt: string) {
  sessionStorage.setItem(key(eventId), JSON.stringify({ token, expiresAt } satisfies Admission));
}

export function forgetAdmission(eventId: string) {
  sessionStorage.removeItem(key(eventId));
}

// The waiting room's receipt for this tab's place: should the waiting room lose its state, showing
// it again (`X-Queue-Receipt`) puts this buyer back where they stood. Kept until admitted or left.
const receiptKey = (eventId: string) => `tiketi.queue.receipt.${eventId}`;

export function queueReceipt(eventId: string): string | null {
  return sessionStorage.getItem(receiptKey(eventId));
}

export function keepQueueReceipt(eventId: string, receipt: string | undefined) {
  if (receipt) sessionStorage.setItem(receiptKey(eventId), receipt);
}

export function forgetQueueReceipt(eventId: string) {
  sessionStorage.removeItem(receiptKey(eventId));
}
