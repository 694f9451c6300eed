import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import express from 'express';

/**
 * LHC-Forms (npm `lforms`, pinned below) in headless Debian Chromium, offline. The npm package's dependencies
 * are only its build tools (Angular and the rest, whose peer ranges npm cannot resolve beside this project's),
 * while its `dist/` is self-contained: so the tarball is fetched with `npm pack` (the ordinary npm client),
 * checked against the pinned integrity, and only `dist/lforms/webcomponent` and `dist/lforms/fhir/R4` are
 * unpacked into node_modules/.cache (gone with every `npm ci`, fetched again: 13 MB).
 */

export const LFORMS_VERSION = '40.1.3';
const LFORMS_INTEGRITY =
  'sha512-WLruTm+BcVnafC0rSAQ3/cNqhxvclBUxyBG68aub/uha2NaK9H8ZZcEXTTuORuGzzCt0wa7fvhuieZtcDIdPzQ==';
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(ROOT, 'node_modules', '.cache', `lforms-${LFORMS_VERSION}`);

export function chromiumInstalled(): boolean {
  return existsSync(CHROMIUM);
}

/** The folder holding `webcomponent/` and `fhir/R4/` of the pinned LHC-Forms. */
export function lformsDist(): string {
  const dist = join(CACHE, 'package', 'dist', 'lforms');
  if (existsSync(join(dist, 'fhir', 'R4', 'lformsFHIR.min.js'))) return dist;
  const work = `${CACHE}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const packed = JSON.parse(
    execFileSync('npm', ['pack', `lforms@${LFORMS_VERSION}`, '--json', '--pack-destination', work], {
      cwd: work,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  ) as { filename: string }[];
  const tarball = join(work, packed[0]!.filename);
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  if (integrity !== LFORMS_INTEGRITY)
    throw new Error(`lforms@${LFORMS_VERSION} tarball integrity ${integrity} is not the pinned one`);
  execFileSync('tar', ['-xzf', tarball, '-C', work, 'package/dist/lforms/webcomponent', 'package/dist/lforms/fhir/R4']);
  rmSync(tarball);
  rmSync(CACHE, { recursive: true, force: true });
  renameSync(work, CACHE);
  return dist;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><link href="/lforms/webcomponent/styles.css" rel="stylesheet"></head>
<body><div id="form"></div>
<script src="/lforms/webcomponent/assets/lib/zone.min.js"></script>
<script src="/lforms/webcomponent/runtime.js"></script>
<script src="/lforms/webcomponent/polyfills.js"></script>
<script src="/lforms/webcomponent/main.js"></script>
<script src="/lforms/fhir/R4/lformsFHIR.min.js"></script>
</body></html>`;

/** A local page with LHC-Forms loaded; nothing else is served. */
export async function lformsPageServer(dist: string): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  app.use('/lforms', express.static(dist, { fallthrough: false }));
  app.get('/', (_req, res) => res.type('html').send(PAGE));
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
