import {
  AuditQueue,
  JtiMemory,
  ResilientStore,
  Store,
  isStoreUnavailable,
  type AuditInput,
  type JtiClaim,
  type StoreConfig,
} from '../store/index.js';
import type { Logger } from './logger.js';

/**
 * The store as the HTTP layer holds it: opened in the background and retried while the database is down (the
 * service starts and answers discovery meanwhile; logged once), wrapped in ResilientStore, purged on a timer,
 * closed on shutdown. Before the first open, audit records are queued and jti checks use the instance's memory,
 * as ResilientStore does while the store is down.
 */

export interface StoreHolderOptions {
  readonly auditQueueCapacity: number;
  readonly retryMs: number;
  /** 0: never purge. */
  readonly purgeIntervalMs: number;
  /** The store's clock (tests pin it). */
  readonly now?: () => Date;
}

export type AuditResult = 'written' | 'queued';

export class StoreHolder {
  readonly #config: StoreConfig;
  readonly #logger: Logger;
  readonly #options: StoreHolderOptions;
  readonly #earlyAudit: AuditQueue;
  readonly #earlyJti = new JtiMemory();
  #resilient: ResilientStore | undefined;
  #attempt: Promise<ResilientStore | undefined> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #purge: NodeJS.Timeout | undefined;
  #failures = 0;
  #closed = false;
  #started = false;

  constructor(config: StoreConfig, logger: Logger, options: StoreHolderOptions) {
    this.#config = config;
    this.#logger = logger;
    this.#options = options;
    this.#earlyAudit = new AuditQueue(options.auditQueueCapacity);
  }

  get engine(): StoreConfig['engine'] {
    return this.#config.engine;
  }

  /** The open store, or undefined while it has not been opened yet. */
  get current(): ResilientStore | undefined {
    return this.#resilient;
  }

  /** True when the store is open and not marked down. */
  get available(): boolean {
    return this.#resilient?.available ?? false;
  }

  /** Audit records dropped because a queue was full, since start. */
  get droppedAudit(): number {
    return this.#earlyAudit.dropped + (this.#resilient?.auditQueue.dropped ?? 0);
  }

  get queuedAudit(): number {
    return this.#earlyAudit.size + (this.#resilient?.auditQueue.size ?? 0);
  }

  /** Starts opening the store (again every retryMs until it opens). */
  start(): this {
    this.#started = true;
    void this.#open();
    return this;
  }

  /** The store, waiting at most `waitMs` for an open attempt under way (a store never started is opened now). */
  async get(waitMs = 2000): Promise<ResilientStore | undefined> {
    if (this.#resilient === undefined && !this.#started && !this.#closed) this.start();
    if (this.#resilient !== undefined || this.#attempt === undefined) return this.#resilient;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), waitMs);
    });
    try {
      return await Promise.race([this.#attempt, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Writes an audit record, or queues it while the store is down or not open yet. Never throws for unavailability. */
  async recordAudit(entry: AuditInput): Promise<AuditResult> {
    const store = this.#resilient;
    if (store === undefined) {
      this.#earlyAudit.enqueue(entry);
      return 'queued';
    }
    return store.recordAudit(entry);
  }

  /** The deployment-wide jti check: the store's claim, the instance's memory while the store is down. */
  async claimJti(claim: JtiClaim): Promise<'accepted' | 'replay'> {
    // A short wait for a first open under way, so the first calls after start-up are checked deployment-wide.
    const store = await this.get(500);
    if (store === undefined) return this.#earlyJti.claim(claim, this.#options.now?.());
    return (await store.claimJti(claim)).status;
  }

  /** /ready: the store is open and answers now. */
  async ready(): Promise<boolean> {
    const store = this.#resilient ?? (await this.get());
    return store === undefined ? false : store.ready().catch(() => false);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#purge);
    const store = this.#resilient ?? (await this.#attempt?.catch(() => undefined));
    this.#resilient = undefined;
    if (store !== undefined) {
      store.stop();
      await store.store.close().catch(() => undefined);
    }
  }

  #open(): Promise<ResilientStore | undefined> {
    this.#attempt ??= (async () => {
      try {
        const store = await Store.open(this.#config, this.#options.now ? { now: this.#options.now } : {});
        if (this.#closed) {
          await store.close();
          return undefined;
        }
        const resilient = new ResilientStore(store, {
          auditQueueCapacity: this.#options.auditQueueCapacity,
          probeIntervalMs: this.#options.retryMs,
        });
        await this.#handOver(store);
        this.#resilient = resilient;
        this.#schedulePurge(store);
        this.#logger.info(
          { engine: store.engine, ...(this.#failures > 0 ? { attempts: this.#failures + 1 } : {}) },
          'store open',
        );
        return resilient;
      } catch (error) {
        this.#failures += 1;
        if (this.#failures === 1) {
          this.#logger.error(
            {
              engine: this.#config.engine,
              code: isStoreUnavailable(error) ? error.code : (error as Error).name,
              retryMs: this.#options.retryMs,
            },
            'store cannot be opened; retrying (calls with orders in scope get 503 meanwhile)',
          );
        }
        if (!this.#closed) {
          this.#retry = setTimeout(() => void this.#open(), this.#options.retryMs);
          this.#retry.unref();
        }
        return undefined;
      } finally {
        this.#attempt = undefined;
      }
    })();
    return this.#attempt;
  }

  /** What was held before the store opened: jti claims, then the queued audit records. */
  async #handOver(store: Store): Promise<void> {
    for (const claim of this.#earlyJti.drain()) await store.claimJti(claim).catch(() => undefined);
    await this.#earlyAudit.flush(store).catch(() => 0);
  }

  #schedulePurge(store: Store): void {
    if (this.#options.purgeIntervalMs <= 0) return;
    this.#purge = setInterval(() => {
      store.purge().then(
        (counts) => this.#logger.info({ purged: counts }, 'retention purge'),
        (error: unknown) =>
          this.#logger.warn(
            { code: isStoreUnavailable(error) ? error.code : (error as Error).name },
            'retention purge failed',
          ),
      );
    }, this.#options.purgeIntervalMs);
    this.#purge.unref();
  }
}
