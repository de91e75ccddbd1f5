/** The part of `cap` (libpcap binding, CommonJS, untyped) the capture service uses. */
declare module 'cap' {
  import type { EventEmitter } from 'node:events';
  export class Cap extends EventEmitter {
    /** Returns the link type name: 'ETHERNET', 'NULL', 'RAW', 'LINKTYPE_LINUX_SLL', … */
    open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
    setMinBytes?(n: number): void;
    close(): void;
    on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): this;
  }
  const cap: { Cap: typeof Cap };
  export default cap;
}
