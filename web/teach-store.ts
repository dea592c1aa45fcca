/**
 * Where the Teach page keeps its work across reloads: one record in IndexedDB with the actions, the clips and the
 * taught weights (a teacher snapshot), and the base model they belong to. Browser only.
 */
import type { TeacherSnapshot } from 'temporal-shift/web';

/** What the page saves. */
export interface SavedTeaching {
  readonly version: 1;
  /** The base model's URL: a snapshot is only restored onto the model it was taught from. */
  readonly model: string;
  /** Mirrored clips in training (left and right do not matter). */
  readonly flip: boolean;
  readonly snapshot: TeacherSnapshot;
}

const DB_NAME = 'tsm-teach';
const STORE = 'teaching';
const KEY = 'current';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB could not be opened'));
  });
}

async function run<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  } finally {
    db.close();
  }
}

/** The saved work, or undefined. */
export async function loadTeaching(): Promise<SavedTeaching | undefined> {
  const v = await run('readonly', (s) => s.get(KEY) as IDBRequest<SavedTeaching | undefined>);
  return v?.version === 1 ? v : undefined;
}

/** Replaces the saved work (one transaction: a reload sees the old record or the new one, never half of it). */
export async function saveTeaching(t: SavedTeaching): Promise<void> {
  await run('readwrite', (s) => s.put(t, KEY));
}

/** Forgets the saved work. */
export async function clearTeaching(): Promise<void> {
  await run('readwrite', (s) => s.delete(KEY));
}
