/** Heck's own version (kept equal to package.json's by a test). */
export const HECK_VERSION = '0.1.0';
/** The Redis version whose behaviour Heck's RESP surface follows; clients read it from HELLO and INFO. */
export const REDIS_COMPAT_VERSION = '7.0.15';
