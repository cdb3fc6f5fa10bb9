// Replaced by the command-line tool (issue 5).
export {};
