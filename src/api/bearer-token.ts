/** The token of an `Authorization: Bearer <token>` header (users, operators and merchants alike). */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}
