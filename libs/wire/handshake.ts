/**
 * What the client signs in the handshake: the domain-separated canonical bytes
 * (libs/identity `signingBytes`, kind `handshake`) of
 *
 *     { "client": <client DID>, "nonce": <32-byte nonce>, "server": <server DID> }
 *
 * in the pool the client asked for. Binding both DIDs and the pool means a signature made
 * for one server, pool or nonce is worthless anywhere else.
 */
import { signingBytes } from '../identity/signing-bytes.js';

export const NONCE_BYTES = 32;
export const HANDSHAKE_KIND = 'handshake';

export interface HandshakeTranscript {
  pool: string;
  nonce: Uint8Array;
  clientDid: string;
  serverDid: string;
}

/** The bytes the client signs (Response) and the server verifies. */
export function handshakeSigningBytes(t: HandshakeTranscript): Uint8Array {
  return signingBytes(HANDSHAKE_KIND, t.pool, {
    client: t.clientDid,
    nonce: t.nonce,
    server: t.serverDid,
  });
}
