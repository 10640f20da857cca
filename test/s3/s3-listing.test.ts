/**
 * A prefix listed a range at a time (store/s3/listing.ts) against the real gateway: with small pages
 * and an index that is out of date (keys gone, keys new to it), every object under the prefix comes
 * back exactly once, names in several scripts included, and nothing outside the prefix.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { listPrefix, requestFirstPage } from '../../src/store/s3/listing.js';
import { client, closeClient, freshBucket, rgw } from './s3-helpers.js';

describe.skipIf(rgw === null)('a listing in ranges', () => {
  afterAll(closeClient);

  it('returns every key under the prefix once, across cuts taken from a stale index', async () => {
    const bucket = await freshBucket();
    const names = Array.from({ length: 1200 }, (_, i) => {
      const folder = ['docs', 'fotos-é', 'z', 'ä/b', 'music'][i % 5] as string;
      return `${folder}/${i % 7 === 0 ? '\u{1F600}' : i % 11 === 0 ? '\uE000' : 'f'}${String(i).padStart(5, '0')}`;
    });
    const put = (key: string) => client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: new Uint8Array(0) }));
    for (let i = 0; i < names.length; i += 32) await Promise.all(names.slice(i, i + 32).map((name) => put(`home/${name}`)));
    await Promise.all(['hom', 'home2/x', 'other/y'].map(put));
    // The index knows most of the keys, misses some (new since), and names some that are gone.
    const known = [...names.filter((_, i) => i % 13 !== 0), ...Array.from({ length: 300 }, (_, i) => `gone/${i}`)];
    const pageKeys = 20;
    const store = { client: client(), bucket, prefix: 'home/', pageKeys };
    const listed: string[] = [];
    let pages = 0;
    await listPrefix(store, requestFirstPage(store), known, (objects) => {
      pages++;
      for (const object of objects) listed.push(object.Key ?? '');
    });
    expect(listed.length).toBe(names.length);
    expect(new Set(listed)).toEqual(new Set(names.map((name) => `home/${name}`)));
    // Cut into ranges: each range's first page starts after a cut, so there are more pages than 60.
    expect(pages).toBeGreaterThan(names.length / pageKeys);
  });
});
