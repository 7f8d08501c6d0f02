// Test helper: the stable `code` a promise rejects with, or undefined when it resolves, so tests
// assert on codes (never on message text).
export async function rejectionCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}
