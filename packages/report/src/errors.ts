/** A mistake in what the report was asked to read or compare; the message says what to do. */
export class ReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportError';
  }
}
