import { isStoreUnavailable } from './errors.js';
import type { AuditInput, JtiClaim } from './records.js';
import type { Store } from './store.js';

/**
 * Audit records of calls that do not need the store (discovery, out-of-scope orders), held while the store is
 * down and written when it returns. Bounded: past `capacity` the oldest record is dropped and counted.
 */
export class AuditQueue {
  readonly capacity: number;
  #items: AuditInput[] = [];
  #dropped = 0;

  constructor(capacity = 1000) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#items.length;
  }

  /** Records dropped since start because the queue was full (for the metrics). */
  get dropped(): number {
    return this.#dropped;
  }

  enqueue(entry: AuditInput): void {
    // Keep the time of the call, not of the eventual write.
    this.#items.push({ ...entry, createdAt: entry.createdAt ?? new Date().toISOString() });
    while (this.#items.length > this.capacity) {
      this.#items.shift();
      this.#dropped += 1;
    }
  }

  /** Writes the queue in batches; on unavailability keeps what was not written and returns the count written. */
  async flush(store: Store, batchSize = 100): Promise<number> {
    let written = 0;
    while (this.#items.length > 0) {
      const batch = this.#items.slice(0, batchSize);
      try {
        await store.recordAudit(batch);
      } catch (error) {
        if (isStoreUnavailable(error)) return written;
        throw error;
      }
      this.#items.splice(0, batch.length);
      written += batch.length;
    }
    return written;
  }
}

/** The instance's own jti memory while the store is down (a replay to another instance is not seen meanwhile). */
export class JtiMemory {
  readonly capacity: number;
  #seen = new Map<string, JtiClaim & { expiresAtMs: number }>();

  constructor(capacity = 100_000) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** `accepted` the first time, `replay` after; expired entries are forgotten. */
  claim(claim: JtiClaim, now: Date = new Date()): 'accepted' | 'replay' {
    this.#sweep(now.getTime());
    const key = `${claim.iss}\u0000${claim.jti}`;
    if (this.#seen.has(key)) return 'replay';
    if (this.#seen.size >= this.capacity) {
      const oldest = this.#seen.keys().next();
      if (oldest.done !== true) this.#seen.delete(oldest.value);
    }
    this.#seen.set(key, { ...claim, expiresAtMs: new Date(claim.expiresAt).getTime() });
    return 'accepted';
  }

  /** Claims accepted from memory, for writing to the store when it returns. */
  drain(): JtiClaim[] {
    const claims = [...this.#seen.values()].map(({ iss, jti, expiresAt }) => ({ iss, jti, expiresAt }));
    this.#seen.clear();
    return claims;
  }

  #sweep(nowMs: number): void {
    for (const [key, claim] of this.#seen) {
      if (claim.expiresAtMs <= nowMs) this.#seen.delete(key);
    }
  }
}

export interface ResilienceOptions {
  auditQueueCapacity?: number;
  /** How often to probe the store while it is down. */
  probeIntervalMs?: number;
}

export type JtiResult = { status: 'accepted' | 'replay'; source: 'store' | 'memory' };

/**
 * The store as the HTTP layer should use it when the store may be down: jti checks fall back to memory, audit
 * records of calls that need no store are queued, and a probe brings it all back when the store answers again.
 * `recordCall` is passed through: a call with orders in scope must not answer without its commit.
 */
export class ResilientStore {
  readonly store: Store;
  readonly auditQueue: AuditQueue;
  readonly jtiMemory = new JtiMemory();
  readonly #probeIntervalMs: number;
  #available = true;
  #timer: NodeJS.Timeout | undefined;
  #recovering: Promise<void> | undefined;

  constructor(store: Store, options: ResilienceOptions = {}) {
    this.store = store;
    this.auditQueue = new AuditQueue(options.auditQueueCapacity ?? 1000);
    this.#probeIntervalMs = options.probeIntervalMs ?? 2000;
  }

  /** False from the first unavailable result until a probe succeeds and the backlog is written. */
  get available(): boolean {
    return this.#available;
  }

  /** The readiness probe: the store answers a query now. */
  async ready(): Promise<boolean> {
    const ok = await this.store.ready();
    if (ok && !this.#available) await this.#recover();
    else if (!ok) this.#markUnavailable();
    return ok;
  }

  async recordCall(...args: Parameters<Store['recordCall']>): ReturnType<Store['recordCall']> {
    const result = await this.store.recordCall(...args);
    if (result.status === 'unavailable') this.#markUnavailable();
    else if (!this.#available) void this.ready().catch(() => undefined);
    return result;
  }

  /** Writes an audit record now, or queues it while the store is down. Never throws for unavailability. */
  async recordAudit(entry: AuditInput): Promise<'written' | 'queued'> {
    if (this.#available) {
      try {
        await this.store.recordAudit([{ ...entry, createdAt: entry.createdAt ?? new Date().toISOString() }]);
        return 'written';
      } catch (error) {
        if (!isStoreUnavailable(error)) throw error;
        this.#markUnavailable();
      }
    }
    this.auditQueue.enqueue(entry);
    return 'queued';
  }

  async claimJti(claim: JtiClaim): Promise<JtiResult> {
    if (this.#available) {
      try {
        return { status: await this.store.claimJti(claim), source: 'store' };
      } catch (error) {
        if (!isStoreUnavailable(error)) throw error;
        this.#markUnavailable();
      }
    }
    return { status: this.jtiMemory.claim(claim), source: 'memory' };
  }

  /** Stops the probe; does not close the store. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #markUnavailable(): void {
    this.#available = false;
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.ready().catch(() => undefined), this.#probeIntervalMs);
    this.#timer.unref();
  }

  #recover(): Promise<void> {
    this.#recovering ??= (async () => {
      try {
        for (const claim of this.jtiMemory.drain()) {
          await this.store.claimJti(claim).catch(() => undefined);
        }
        await this.auditQueue.flush(this.store);
        if (this.auditQueue.size === 0) {
          this.#available = true;
          this.stop();
        }
      } finally {
        this.#recovering = undefined;
      }
    })();
    return this.#recovering;
  }
}
