/**
 * Flows by their 4-tuple, found without building a string per packet: an IPv4 endpoint is
 * a number (address × 2^16 + port), so an IPv4 flow is found by two numeric lookups; an
 * IPv6 endpoint is text. A flow is filed under its endpoints in ascending order, so both
 * directions find it.
 */

/** An endpoint as a key: a number for IPv4, text for IPv6. */
export type EndpointKey = number | string;

export function endpointKey(addr: Uint8Array, port: number): EndpointKey {
  if (addr.length === 4)
    return (
      (((addr[0]! << 24) | (addr[1]! << 16) | (addr[2]! << 8) | addr[3]!) >>> 0) * 65536 + port
    );
  return `${Buffer.from(addr.buffer, addr.byteOffset, addr.length).toString('hex')}.${port}`;
}

export class FlowIndex<F> {
  private readonly ipv4 = new Map<number, Map<number, F>>();
  private readonly ipv6 = new Map<string, F>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(a: EndpointKey, b: EndpointKey): F | undefined {
    const low = a < b ? a : b;
    const high = a < b ? b : a;
    if (typeof low === 'number' && typeof high === 'number') return this.ipv4.get(low)?.get(high);
    return this.ipv6.get(`${low}|${high}`);
  }

  set(a: EndpointKey, b: EndpointKey, flow: F): void {
    const low = a < b ? a : b;
    const high = a < b ? b : a;
    if (typeof low === 'number' && typeof high === 'number') {
      let inner = this.ipv4.get(low);
      if (inner === undefined) this.ipv4.set(low, (inner = new Map()));
      if (!inner.has(high)) this.count++;
      inner.set(high, flow);
    } else {
      const key = `${low}|${high}`;
      if (!this.ipv6.has(key)) this.count++;
      this.ipv6.set(key, flow);
    }
  }

  delete(a: EndpointKey, b: EndpointKey): void {
    const low = a < b ? a : b;
    const high = a < b ? b : a;
    if (typeof low === 'number' && typeof high === 'number') {
      const inner = this.ipv4.get(low);
      if (inner?.delete(high)) {
        this.count--;
        if (inner.size === 0) this.ipv4.delete(low);
      }
    } else if (this.ipv6.delete(`${low}|${high}`)) this.count--;
  }
}
