/** A `next` page to return to after signing in: only paths on this site. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) return '/';
  return next;
}

/** Where an OpenID Connect sign-in returns: the page, marked so the app restores the session. */
export function oauthReturn(next: string): string {
  return `${next}${next.includes('?') ? '&' : '?'}signed_in=1`;
}
