/** Writes docs/bug-corpus.md from the corpus records (npm run docs:corpus). */
import { writeFileSync } from 'node:fs';
import { corpusMarkdown } from '../src/corpus/index.js';

writeFileSync(new URL('../docs/bug-corpus.md', import.meta.url), corpusMarkdown());
