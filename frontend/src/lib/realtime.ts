// One WebSocket to `/ws` per tab, shared by every page (docs/realtime.md): authenticates with
// the first message, renews before the access token expires, subscribes each channel once,
// reconnects with backoff (resubscribing, so pages see a fresh `subscribed`) and routes every
// server message to the handlers of its channel.
import { useEffect, useRef, useState } from 'react';
import { session } from '../api/session';

export type ServerMessage = { type: string; channel?: string; event_id?: string; [field: string]: unknown };
type Handler = (message: ServerMessage) => void;
export type SocketState = 'idle' | 'connecting' | 'open' | 'closed';

/** The channel a server message belongs to. */
export function channelOf(message: ServerMessage): string | null {
  if (message.channel) return message.channel;
  if (message.type.startsWith('queue.')) return `queue:${message.event_id}`;
  if (message.type.startsWith('seats.')) return `seats:${message.event_id}`;
  return null;
}

/** Reconnect delays: 0.5 s doubling to 15 s, with jitter so a restarted server is not stampeded. */
export function backoff(attempt: number, random = Math.random): number {
  const base = Math.min(15_000, 500 * 2 ** Math.min(attempt, 5));
  return Math.round(base / 2 + random() * (base / 2));
}

export class Realtime {
  private ws: WebSocket | null = null;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly stateListeners = new Set<(state: SocketState) => void>();
  private state: SocketState = 'idle';
  private attempts = 0;
  private token: string | null = null;
  private timers: ReturnType<typeof setInterval>[] = [];
  private reconnect: ReturnType<typeof setTimeout> | null = null;

  subscribe(channel: string, handler: Handler): () => void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      this.send({ type: 'subscribe', channel });
    }
    set.add(handler);
    this.ensureConnected();
    return () => {
      const current = this.handlers.get(channel);
      if (!current) return;
      current.delete(handler);
      if (current.size === 0) {
        this.handlers.delete(channel);
        this.send({ type: 'unsubscribe', channel });
        if (this.handlers.size === 0) this.close();
      }
    };
  }

  onState(listener: (state: SocketState) => void): () => void {
    this.stateListeners.add(listener);
    listener(this.state);
    return () => this.stateListeners.delete(listener);
  }

  private setState(state: SocketState) {
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  private send(message: object) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private ensureConnected() {
    if (this.ws || this.reconnect) return;
    void this.connect();
  }

  private async connect() {
    this.setState('connecting');
    const token = await session.accessToken();
    if (!token || this.handlers.size === 0) {
      this.setState('closed');
      return;
    }
    this.token = token;
    const url = new URL('/ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      ws.send(JSON.stringify({ type: 'auth', token }));
      for (const channel of this.handlers.keys()) ws.send(JSON.stringify({ type: 'subscribe', channel }));
      this.setState('open');
      this.timers = [
        setInterval(() => this.send({ type: 'ping' }), 25_000),
        setInterval(() => void this.renew(), 30_000),
      ];
    };
    ws.onmessage = (event) => {
      let message: ServerMessage;
      try {
        message = JSON.parse(String(event.data)) as ServerMessage;
      } catch {
        return;
      }
      const channel = channelOf(message);
      if (!channel) return;
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    };
    ws.onclose = (event) => {
      this.stopTimers();
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState('closed');
      if (this.handlers.size === 0) return;
      // 4401: the token was refused — the next attempt asks the session for a fresh one first.
      if (event.code === 4401) void session.refresh();
      const delay = backoff(this.attempts++);
      this.reconnect = setTimeout(() => {
        this.reconnect = null;
        void this.connect();
      }, delay);
    };
  }

  /** Sends a fresh token on the open socket before the old one expires. */
  private async renew() {
    const token = await session.accessToken();
    if (token && token !== this.token) {
      this.token = token;
      this.send({ type: 'auth', token });
    }
  }

  private stopTimers() {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  private close() {
    if (this.reconnect) clearTimeout(this.reconnect);
    this.reconnect = null;
    const ws = this.ws;
    this.ws = null;
    this.stopTimers();
    ws?.close(1000);
    this.setState('idle');
  }
}

export const realtime = new Realtime();

/** Calls `handler` with every message of `channel` while the component is mounted. */
export function useChannel(channel: string | null, handler: Handler) {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    if (!channel) return;
    return realtime.subscribe(channel, (message) => latest.current(message));
  }, [channel]);
}

export function useSocketState(): SocketState {
  const [state, setState] = useState<SocketState>('idle');
  useEffect(() => realtime.onState(setState), []);
  return state;
}
