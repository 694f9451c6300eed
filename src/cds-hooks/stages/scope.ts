import type { DraftOrder } from '../../fhir/order.js';
import type { HookService } from '../registry.js';
import { scopeMatch, type ScopeMatch } from '../scope.js';
import type { ValidCall } from './validate.js';

/** Stage 2: which of the draft orders this service owns. */

export interface OrderInScope {
  readonly order: DraftOrder;
  readonly match: ScopeMatch;
}

export interface Scoped {
  /** How many draft orders the call carries. */
  readonly orderCount: number;
  readonly inScope: readonly OrderInScope[];
}

export function scope(service: HookService, { request }: ValidCall): Scoped {
  const orders = (request.context.draftOrders.entry ?? []).map((e) => e.resource as DraftOrder);
  const inScope = orders.flatMap((order) => {
    const match = scopeMatch(order, service.definition.scope);
    return match ? [{ order, match }] : [];
  });
  return { orderCount: orders.length, inScope };
}
