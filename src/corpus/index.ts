/** The real bug corpus (records, fault catalog, generated table). Free of Node APIs. */
export * from './cases.js';
export * from './faults.js';
export { corpusMarkdown } from './markdown.js';
