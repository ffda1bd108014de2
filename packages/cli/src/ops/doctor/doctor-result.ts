/** One line of `hpcmirror doctor`: what was checked and what is wrong, if anything. */
export interface DoctorResult {
  check: string;
  level: 'ok' | 'warn' | 'fail' | 'skip';
  message: string;
}

export const ok = (check: string, message: string): DoctorResult => ({ check, level: 'ok', message });
export const warn = (check: string, message: string): DoctorResult => ({ check, level: 'warn', message });
export const fail = (check: string, message: string): DoctorResult => ({ check, level: 'fail', message });
export const skip = (check: string, message: string): DoctorResult => ({ check, level: 'skip', message });
