import cors from 'cors';
import type { RequestHandler } from 'express';
import type { Config } from './config.js';

/** Response headers every answer carries, and CORS (preflights are answered here, before authentication). */

export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({ 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' });
  next();
};

export function corsHeaders(origins: Config['corsOrigins']): RequestHandler {
  return cors({
    origin: origins === '*' ? true : (origin, cb) => cb(null, origin !== undefined && origins.includes(origin)),
    methods: ['GET', 'POST', 'OPTIONS'],
    // No fixed list: a preflight's Access-Control-Request-Headers is reflected (the Sandbox and Medplum send
    // their own headers, e.g. X-Medplum); origins stay as configured.
    maxAge: 600,
  });
}
