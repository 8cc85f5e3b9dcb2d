// Client-side checks that save a round trip; the server validates everything again.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function validateEmail(value: string): string | undefined {
  const v = value.trim();
  if (!v) return "Enter an email address.";
  if (!EMAIL.test(v)) return "Enter a valid email address, like name@company.com.";
  return undefined;
}

export function validateRequired(value: string, what: string): string | undefined {
  return value.trim() ? undefined : `Enter ${what}.`;
}

export function validateNewPassword(password: string, confirm: string, minLength: number): Record<string, string> {
  const errors: Record<string, string> = {};
  if (password.length < minLength) errors.newPassword = `Use at least ${minLength} characters.`;
  if (confirm !== password) errors.confirmPassword = "The passwords do not match.";
  return errors;
}
