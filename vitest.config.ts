import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Workers and the CLI run from dist/: build it once before any test.
    globalSetup: ['test/helpers/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: end-to-end tests spawn CLIs with their own worker threads.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: ['test/s3/**'], sequence: { groupOrder: 0 } } },
      // One Ceph gateway for all S3 files (test/helpers/s3-cluster.ts), after the main project.
      { extends: true, test: { name: 's3', include: ['test/s3/**/*.test.ts'], globalSetup: ['test/helpers/build.ts', 'test/helpers/s3-cluster.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
