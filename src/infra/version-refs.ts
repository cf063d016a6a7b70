/**
 * A config version, `{version, sha256}`: the shape of the protocol's VersionRef and of the store's
 * records, written here because the store depends on nothing but infra.
 */
export interface ConfigVersion {
  readonly version: string;
  readonly sha256: string;
}

/**
 * One frozen version object per (version, sha256). A fleet runs two or three versions, but each drone's
 * answer, and each stored progress record, parses into strings of its own (a 64-character sha256 among
 * them): kept per drone in `before` and `now`, they cost about 300 bytes a drone; shared, nothing.
 */
export class VersionRefs {
  readonly #refs = new Map<string, ConfigVersion>();

  /** The shared version object of this version and sha256. */
  ref(version: string, sha256: string): ConfigVersion {
    const key = `${sha256} ${version}`;
    let ref = this.#refs.get(key);
    if (ref === undefined) {
      ref = Object.freeze({ version, sha256 });
      this.#refs.set(key, ref);
    }
    return ref;
  }

  /** `ref` of a parsed version, or null. */
  refOf(parsed: ConfigVersion | null): ConfigVersion | null {
    return parsed === null ? null : this.ref(parsed.version, parsed.sha256);
  }
}
