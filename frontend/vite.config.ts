import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

// `npm run dev` proxies the API and /ws to a running `tiketi up` (TIKETI_PORT, default 8080).
const api = `http://127.0.0.1:${process.env.TIKETI_PORT ?? 8080}`;

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    target: 'es2022',
    sourcemap: false,
    // Charts are only for operators: keep them out of the buyer's first download.
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': api,
      '/webhooks': api,
      '/ws': { target: api, ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
