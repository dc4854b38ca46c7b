// Solves one proof-of-work challenge off the page's thread (see proof.ts).
import { solve } from './proof';

self.onmessage = (message: MessageEvent<{ challenge: string; difficulty: number }>) => {
  self.postMessage(solve(message.data.challenge, message.data.difficulty));
};
