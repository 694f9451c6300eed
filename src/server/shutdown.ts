import type { Server } from 'node:http';
import type { Logger } from './logger.js';

/**
 * Graceful shutdown: stop accepting connections, let in-flight requests finish, close idle keep-alive
 * connections as they free up, and force-close whatever is left after the grace period.
 */
export function gracefulShutdown(server: Server, logger: Logger, graceMs: number): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= new Promise<void>((resolve) => {
      logger.info({ graceMs }, 'shutting down: finishing in-flight requests');
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      const force = setTimeout(() => {
        logger.warn('grace period over: closing remaining connections');
        server.closeAllConnections();
      }, graceMs);
      server.close(() => {
        clearInterval(sweep);
        clearTimeout(force);
        logger.info('shut down');
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
}
