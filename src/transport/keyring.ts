import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { decodeKey } from '../config.js';

/**
 * AES-256-GCM sealing for the cluster bus, with a keyring for rotation: the first (primary) key
 * seals, every key of the ring may open. Box layout, versioned so the format can evolve:
 *
 *   [u8 version = 1][12-byte random nonce][ciphertext][16-byte GCM tag]
 *
 * The version byte is authenticated too (it is prepended to the caller's AAD), so a box can never
 * be reinterpreted under another format.
 */
export const SEAL_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** Bytes a sealed box adds to its plaintext: version + nonce + tag. */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

const ALGORITHM = 'aes-256-gcm';
const VERSION_PREFIX = Buffer.from([SEAL_VERSION]);

export class Keyring {
  /** Primary first. KeyObjects copy the bytes, so a caller reusing its Buffers cannot change the ring. */
  private readonly keys: readonly KeyObject[];

  constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new Error('a keyring needs at least one key');
    const unique: Buffer[] = [];
    for (const key of keys) {
      if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
        throw new Error(`each key must be exactly ${KEY_BYTES} bytes`);
      }
      // A duplicate would only make every failed open() pay for one more decryption.
      if (!unique.some((k) => k.equals(key))) unique.push(key);
    }
    this.keys = unique.map((k) => createSecretKey(k));
  }

  /** The ring `--cluster-key` describes (comma-separated, primary first), or null when it is unset. */
  static fromSetting(text: string): Keyring | null {
    if (text.trim() === '') return null;
    const keys = text.split(',').map((part, i) => {
      const key = decodeKey(part);
      if (!key) throw new Error(`cluster key ${i + 1} is not 32 bytes as 64 hex digits or base64`);
      return key;
    });
    return new Keyring(keys);
  }

  /** The nonce of a sealed box (its unique identity), e.g. to bind a reply to its request. */
  static nonceOf(box: Buffer): Buffer {
    return box.subarray(1, 1 + NONCE_BYTES);
  }

  /** How many distinct keys the ring holds. */
  get size(): number {
    return this.keys.length;
  }

  /** Encrypts and authenticates `plain`, binding it to `aad`, with the primary key and a fresh nonce. */
  seal(plain: Buffer, aad: Buffer): Buffer {
    // Random 96-bit nonces: the collision bound (~2^32 messages per key) is far beyond any rotation period.
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.keys[0]!, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.concat([VERSION_PREFIX, aad]));
    const body = cipher.update(plain);
    const rest = cipher.final();
    return Buffer.concat([VERSION_PREFIX, nonce, body, rest, cipher.getAuthTag()]);
  }

  /**
   * The plaintext of a box sealed with any key of the ring under the same `aad`, or null for anything
   * else (unknown version, too short, wrong key or aad, any modified byte). Never throws; the work
   * done is bounded by the box's own length times the ring size.
   */
  open(box: Buffer, aad: Buffer): Buffer | null {
    if (box.length < SEAL_OVERHEAD || box[0] !== SEAL_VERSION) return null;
    const nonce = Keyring.nonceOf(box);
    const body = box.subarray(1 + NONCE_BYTES, box.length - TAG_BYTES);
    const tag = box.subarray(box.length - TAG_BYTES);
    const fullAad = Buffer.concat([VERSION_PREFIX, aad]);
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAuthTag(tag);
        decipher.setAAD(fullAad);
        const plain = decipher.update(body);
        // final() throws when the tag does not verify; until then `plain` is unauthenticated and unused.
        const rest = decipher.final();
        return rest.length === 0 ? plain : Buffer.concat([plain, rest]);
      } catch {
        // Not this key (or not a box at all): try the next one.
      }
    }
    return null;
  }
}
