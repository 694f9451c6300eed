import { orderCodings } from '../fhir/order.js';
import type { ServiceDefinition } from './service-definition.js';

export type DraftOrder = Record<string, unknown> & { resourceType: string };

/** An order is in a service's scope when any coding of its code matches one of the service's order codes. */
export function isInScope(order: DraftOrder, scope: ServiceDefinition['scope']): boolean {
  const codings = orderCodings(order);
  return scope.orderCodes.some((set) => codings.some((c) => c.system === set.system && c.code !== undefined && set.codes.includes(c.code)));
}
