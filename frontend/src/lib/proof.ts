// The waiting room's proof of work: find `solution` such that SHA-256(`challenge:solution`)
// starts with `difficulty` zero bits (the server checks it with one hash). Run in a worker
// (proof.worker.ts) so the page stays responsive while it works.
import { sha256 } from '@noble/hashes/sha2.js';

export function leadingZeroBits(hash: Uint8Array): number {
  let bits = 0;
  for (const byte of hash) {
    if (byte !== 0) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}

/** `challenge:n` for the first `n` that works — what `X-Queue-Proof` carries. */
export function solve(challenge: string, difficulty: number): string {
  const encoder = new TextEncoder();
  const prefix = sha256.create().update(encoder.encode(`${challenge}:`));
  for (let n = 0; ; n++) {
    const hash = prefix.clone().update(encoder.encode(String(n))).digest();
    if (leadingZeroBits(hash) >= difficulty) return `${challenge}:${n}`;
  }
}

/** Solves in a worker (off the page's thread); in the page itself where workers are missing. */
export function solveInWorker(challenge: string, difficulty: number): Promise<string> {
  if (typeof Worker === 'undefined') return Promise.resolve(solve(challenge, difficulty));
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./proof.worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (message: MessageEvent<string>) => {
      resolve(message.data);
      worker.terminate();
    };
    worker.onerror = (error) => {
      reject(error);
      worker.terminate();
    };
    worker.postMessage({ challenge, difficulty });
  });
}
