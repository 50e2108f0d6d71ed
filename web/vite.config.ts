/**
 * Vite build of the page: `vite build web` (or `npm run build`) writes a self-contained static folder,
 * web/dist, that `smmuv3-tlbi serve` serves. Relative asset paths, no CDN, no external fonts: it works offline
 * and from any directory.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: false,
  },
  server: { host: '127.0.0.1', strictPort: false },
});
