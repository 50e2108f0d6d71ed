/**
 * Real-kernel captures — public API. Environment-free: text and bytes in, reports out.
 *
 * - `writeCpio` — the initramfs archive (cpio.ts); `initScript`, `chooseProbes`, `DEFAULT_WORKLOAD` — the
 *   guest side (guest-init.ts);
 * - `parseTrace`, `parseConsole`, `parseQmpLine`, `parseXp`, `readManifest` — the parsers;
 * - `tieRequests` (requests ↔ ring slots), `checkCoverage` (the verdict per unmap), `reproduce` (both
 *   policies), `auditCapture` and `formatCaptureReport` / `captureReportToJson` (the whole audit).
 */
export * from './cpio.js';
export * from './ftrace.js';
export * from './console.js';
export * from './qmp.js';
export * from './manifest.js';
export * from './guest-init.js';
export * from './requests.js';
export * from './coverage.js';
export * from './reproduce.js';
export * from './audit.js';
export * from './report.js';
