// PBKDF2-HMAC-SHA256 in the browser's WebCrypto, which runs off the page's thread.

/**
 * Resolves with the 32-byte key derived from `passphrase` and `salt`, in base64 (the
 * encoding of `generateKey`); `undefined` where the page has no `crypto.subtle` (insecure
 * contexts), and the caller derives in WebAssembly instead.
 */
export function pbkdf2(passphrase, salt, iterations) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  // A copy: `salt` is a view of WebAssembly memory, reused once this call returns.
  const params = { name: "PBKDF2", salt: salt.slice(), iterations, hash: "SHA-256" };
  const secret = new TextEncoder().encode(passphrase);
  return subtle
    .importKey("raw", secret, "PBKDF2", false, ["deriveBits"])
    .then((key) => subtle.deriveBits(params, key, 256))
    .then((bits) => btoa(String.fromCharCode(...new Uint8Array(bits))));
}
