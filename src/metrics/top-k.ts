/**
 * Selects the `k` occupied slots with the largest keys (non-zero only), in
 * descending order. A size-k min-heap over one pass: O(n log k) worst case,
 * close to O(n) in practice because most slots do not beat the heap minimum.
 * Ties break towards the lower slot so results are deterministic.
 */
export function topSlots(
  keys: Float64Array,
  occupied: readonly (string | undefined)[],
  highWater: number,
  k: number,
  absolute: boolean,
): number[] {
  if (k <= 0) return [];
  const heapKey = new Float64Array(k);
  const heapSlot = new Int32Array(k);
  let size = 0;
  for (let slot = 0; slot < highWater; slot++) {
    const raw = keys[slot] ?? 0;
    const key = absolute ? Math.abs(raw) : raw;
    if (key === 0 || occupied[slot] === undefined) continue;
    if (size < k) {
      // Sift up.
      let i = size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!less(key, slot, heapKey[parent] ?? 0, heapSlot[parent] ?? 0)) break;
        heapKey[i] = heapKey[parent] ?? 0;
        heapSlot[i] = heapSlot[parent] ?? 0;
        i = parent;
      }
      heapKey[i] = key;
      heapSlot[i] = slot;
    } else if (less(heapKey[0] ?? 0, heapSlot[0] ?? 0, key, slot)) {
      // Replace the minimum and sift down.
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= size) break;
        const right = left + 1;
        let child = left;
        if (right < size && less(heapKey[right] ?? 0, heapSlot[right] ?? 0, heapKey[left] ?? 0, heapSlot[left] ?? 0)) {
          child = right;
        }
        if (!less(heapKey[child] ?? 0, heapSlot[child] ?? 0, key, slot)) break;
        heapKey[i] = heapKey[child] ?? 0;
        heapSlot[i] = heapSlot[child] ?? 0;
        i = child;
      }
      heapKey[i] = key;
      heapSlot[i] = slot;
    }
  }
  const order = Array.from({ length: size }, (_, i) => i);
  order.sort((a, b) => (heapKey[b] ?? 0) - (heapKey[a] ?? 0) || (heapSlot[a] ?? 0) - (heapSlot[b] ?? 0));
  return order.map((i) => heapSlot[i] ?? 0);
}

/** Heap order: smaller key first; on equal keys the higher slot counts as smaller (it loses ties). */
function less(keyA: number, slotA: number, keyB: number, slotB: number): boolean {
  return keyA < keyB || (keyA === keyB && slotA > slotB);
}
