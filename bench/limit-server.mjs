// @ts-check
/**
 * The limit: the least a secure CDS service must do per call, in the same setup as the service (its own child
 * process, Express 5, loopback). It verifies the same ES384 client JWT with jose (issuer, aud = the URL called,
 * exp/iat, an in-memory jti replay check), parses the same JSON body and returns a fixed card.
 * Env: PORT, BENCH_ISS, BENCH_JWKS (the public key set as JSON), BENCH_BODY_LIMIT.
 * Plain JavaScript, run without the tsx loader, as the service runs from dist/: neither pays a loader's memory.
 */
import express from 'express';
import { createLocalJWKSet, jwtVerify } from 'jose';

const port = Number(process.env['PORT']);
const iss = process.env['BENCH_ISS'] ?? '';
const keys = createLocalJWKSet(JSON.parse(process.env['BENCH_JWKS'] ?? '{"keys":[]}'));
const base = `http://127.0.0.1:${port}`;
/** @type {Map<string, number>} */
const seen = new Map();

const CARD = {
  cards: [
    {
      uuid: '00000000-0000-4000-8000-000000000000',
      summary: 'Coverage requirements: see policy',
      indicator: 'info',
      source: { label: 'Limit' },
    },
  ],
  systemActions: [],
};

/** @param {import('express').Request} req @returns {Promise<boolean>} */
async function verified(req) {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m?.[1]) return false;
  try {
    const { payload } = await jwtVerify(m[1], keys, {
      issuer: iss,
      audience: `${base}${req.originalUrl}`,
      algorithms: ['ES384'],
      requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
      clockTolerance: 60,
    });
    const jti = `${iss}|${String(payload.jti)}`;
    const now = Date.now();
    if ((seen.get(jti) ?? 0) > now) return false;
    seen.set(jti, (payload.exp ?? 0) * 1000);
    return true;
  } catch {
    return false;
  }
}

/** @param {import('express').Request} req @param {import('express').Response} res */
async function hook(req, res) {
  if (!(await verified(req))) {
    res.status(401).json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
    return;
  }
  if (typeof req.body !== 'object' || req.body === null || typeof req.body.hook !== 'string') {
    res.status(422).json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] });
    return;
  }
  res.json(CARD);
}

const app = express();
app.disable('x-powered-by');
app.get('/health', (_req, res) => {
  res.json({ status: 'ok' });
});
app.post('/cds-services/:id', express.json({ limit: process.env['BENCH_BODY_LIMIT'] ?? '20mb' }), hook);
setInterval(() => {
  const now = Date.now();
  for (const [k, exp] of seen) if (exp <= now) seen.delete(k);
}, 10_000).unref();
app.listen(port, '127.0.0.1');
