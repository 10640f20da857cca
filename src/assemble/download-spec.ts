/**
 * What to download, wherever it was read from: the CLI fills it from --from and --sha256 today, and from
 * a Metalink or a SHA256SUMS file (parsed elsewhere) once those options land. The engine only sees this.
 */
export interface DownloadSpec {
  /** The file's name: looked up as `<folder>/<name>` and `<url-ending-in-/><name>`; the output's default. */
  readonly name: string;
  /** The size the download states; sources of another size are left out. */
  readonly size?: number;
  /** Hex sha256 of the whole file. */
  readonly sha256?: string;
  /** sha256 of each piece of `length` bytes (the last may be shorter): each block is checked on arrival. */
  readonly pieces?: { readonly length: number; readonly hashes: readonly string[] };
  /** Folders, files and http(s) URLs, in the order of preference. */
  readonly sources: readonly string[];
}
