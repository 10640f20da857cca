/**
 * The AWS SDK's S3 client, loaded with require(). The package is CommonJS (one bundle per package);
 * an ESM `import` of it makes Node's loader scan the bundle's source for its export names first
 * (cjs-module-lexer), at every start of an s3:// run. Types come from the package as usual.
 */
import { createRequire } from 'node:module';
import type * as ClientS3 from '@aws-sdk/client-s3';

const sdk = createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof ClientS3;

export type { CompletedPart, ListObjectsV2CommandOutput, _Object } from '@aws-sdk/client-s3';
export type S3Client = ClientS3.S3Client;
export type PutObjectCommand = ClientS3.PutObjectCommand;
export type UploadPartCommand = ClientS3.UploadPartCommand;

export const {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} = sdk;
