/**
 * The only way this extension puts data on the page. Model names, prompt names, errors,
 * findings, stored prompts and answers come from a kernel or a store: untrusted text. It is
 * set as `textContent` (never parsed as HTML: no innerHTML, insertAdjacentHTML, outerHTML or
 * document.write anywhere in src/, a unit test checks), attributes are set as plain strings,
 * and a link's target must be an absolute http(s) URL (`javascript:`, `data:`, `vbscript:`,
 * relative and protocol-relative URLs are dropped).
 */

/** An element with a class and text (set as text, never as HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls = '',
  text = '',
  doc: Document = document
): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

const SAFE_PROTOCOLS = new Set(['http:', 'https:']);

/**
 * `url` as an absolute http(s) URL the way a browser would resolve it (so mixed case,
 * whitespace and control characters cannot disguise a scheme), or null for anything else.
 */
export function safeHref(url: unknown): string | null {
  if (typeof url !== 'string' || !url.trim()) {
    return null;
  }
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return null; // not absolute: no base is assumed
  }
  return SAFE_PROTOCOLS.has(parsed.protocol) && parsed.host ? parsed.href : null;
}

/** A link that opens `url` in a new tab, or null when `url` is not a safe http(s) URL. */
export function safeLink(text: string, url: unknown, cls = '', doc: Document = document): HTMLAnchorElement | null {
  const href = safeHref(url);
  if (href === null) {
    return null;
  }
  const a = el('a', cls, text, doc);
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}
