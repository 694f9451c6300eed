/** Start-up messages about the listening socket, as one line each. */

/** The URL of the bound socket, e.g. http://127.0.0.1:3000 or http://[::1]:3000. */
export function boundUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

const CAUSES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is in use (another process listens there; stop it or set PORT)',
  EACCES: 'permission denied (ports below 1024 need privileges; set PORT)',
  EADDRNOTAVAIL: 'the address is not available on this machine (set HOST, e.g. 127.0.0.1 or 0.0.0.0)',
  ENOTFOUND: 'the host name does not resolve (set HOST, e.g. 127.0.0.1 or 0.0.0.0)',
  EAI_AGAIN: 'the host name could not be resolved (set HOST, e.g. 127.0.0.1 or 0.0.0.0)',
};

/** Why listening failed, naming address, port and cause; never a stack trace. */
export function listenFailure(host: string, port: number, e: NodeJS.ErrnoException): string {
  const cause = (e.code && CAUSES[e.code]) ?? e.message.split('\n')[0];
  return `cannot listen on ${host} port ${port}: ${cause}${e.code ? ` (${e.code})` : ''}`;
}
