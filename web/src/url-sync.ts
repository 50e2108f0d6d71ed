/**
 * The page's state in its URL: written on every change (replace, not push: typing should not flood the
 * history), small states inline in the query string, large ones compressed into the fragment (share.ts),
 * and a link pasted into the address bar of the open tab opened as a new case.
 */
import { byId } from './dom.js';
import { UrlMaxChars, hasPackedState, inlineLink, linkFor, type Link } from './share.js';
import { stateToQuery, type PageState } from './state.js';

/** Counts URL updates, so that a slow compression finishing after a newer one is dropped. */
let linkSeq = 0;
/** The fragment the page itself wrote (any other change of it is a new link to open). */
let writtenHash = '';

function showLink(link: Link, words: boolean): void {
  history.replaceState(null, '', `${location.pathname}${link.href}`);
  writtenHash = location.hash;
  const a = byId<HTMLAnchorElement>('permalink');
  a.href = location.pathname + link.href;
  const note = byId('link-note');
  note.classList.toggle('warn', !words);
  note.textContent = words
    ? link.kind === 'fragment'
      ? `(compressed into the link's #fragment: ${link.length} characters)`
      : ''
    : `This case is too large for a link (over ${UrlMaxChars} characters, the longest URL Firefox opens; ` +
      "Chromium's limit is 2 MiB): the link and the address bar hold it without the pasted words — share them as a file.";
  document.body.dataset.link = words ? link.kind : 'too-long';
}

/**
 * Keep the URL in step with the state. A small state is written at once into the query string; a large one
 * is compressed into the fragment.
 */
export function syncUrl(state: PageState): void {
  const q = stateToQuery(state);
  const base = location.origin + location.pathname;
  const seq = ++linkSeq;
  const inline = inlineLink(base, q);
  if (inline) {
    showLink(inline, true);
    return;
  }
  document.body.dataset.link = 'pending';
  void (async () => {
    const link = await linkFor(base, q);
    if (seq !== linkSeq) return;
    if (!link.tooLong) return showLink(link, true);
    // A browser would refuse the link: keep everything but the pasted words (and say so).
    const smaller = await linkFor(base, stateToQuery({ ...state, words: '' }));
    if (seq !== linkSeq) return;
    showLink(smaller.tooLong ? { ...smaller, href: '', kind: 'query' } : smaller, false);
  })();
}

/** From now on, open another link pasted into this tab's address bar (it changes only the fragment). */
export function followPastedLinks(): void {
  writtenHash = location.hash;
  window.addEventListener('hashchange', () => {
    if (location.hash !== writtenHash && hasPackedState(location.hash)) location.reload();
  });
}
