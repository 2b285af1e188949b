/** node-postgres's own value encoding, the one it applies to query parameters (not in @types/pg). */
declare module 'pg/lib/utils.js' {
  const utils: {
    /** A parameter's text form as pg sends it: null, a string (Dates, arrays, JSON...) or a Buffer. */
    prepareValue(value: unknown): string | Buffer | null;
  };
  export default utils;
}
