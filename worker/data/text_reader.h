// Line streaming over plain or gzip-compressed text files.
//
// Compression is detected from the first two bytes (the gzip magic 1f 8b), not
// from the file name, so "data.txt" that is really gzip and "data.gz" that is
// really plain text both read correctly. Concatenated gzip members (what
// `ecps gen-data --gzip` writes, and what `cat a.gz b.gz` gives) are read as
// one stream. Member boundaries are verified: bytes after a member that do not
// start another one (a damaged header) are DataLoss naming the file and the
// byte offset, where zlib's gzread dropped the rest of the file silently;
// trailing zero bytes (block padding) are ignored, as gzip(1) does.
//
// Lines are returned without their terminator; a trailing '\r' (CRLF files) is
// stripped as well, and a UTF-8 byte-order mark at the start of the file. A last line without '\n'
// is still returned. Lines of any length are supported (the buffer grows).
//
// Thread-safety: a TextReader is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ecps {

class TextReader {
 public:
  // Opens `path`. NotFound/Unavailable errors name the path.
  static StatusOr<std::unique_ptr<TextReader>> Open(const std::string& path,
                                                    size_t buffer_bytes = 4 << 20);
  ~TextReader();
  TextReader(const TextReader&) = delete;
  TextReader& operator=(const TextReader&) = delete;

  // Sets *line to the next line and returns true; returns false at the end of
  // the input or on a read error (then status() is not OK). *line stays valid
  // until the next call.
  bool NextLine(std::string_view* line);

  // OK unless a read or decompression error happened (DataLoss for a corrupt
  // or truncated gzip stream, naming the file).
  const Status& status() const { return status_; }

  const std::string& path() const { return path_; }
  bool gzipped() const { return gz_ != nullptr; }
  // Compressed bytes consumed so far (gzip input; 0 for plain text).
  uint64_t compressed_offset() const { return in_offset_ - in_have_; }
  // 1-based number of the line last returned by NextLine().
  uint64_t line_number() const { return line_number_; }
  // Decompressed bytes handed out so far (line terminators included).
  uint64_t text_bytes() const { return text_bytes_; }

 private:
  TextReader() = default;
  // `line` without a leading UTF-8 byte-order mark if it is the first line.
  std::string_view StripBom(std::string_view line) const;
  // Reads more bytes after buf_[end_]; returns the count, 0 at EOF, -1 on error.
  long Fill();
  // Fill() of a gzip file: inflates member after member.
  long FillGzip(char* dst, size_t room);
  // Moves the unconsumed input to the front of in_ and reads more after it;
  // false on a read error (status_ set). Sets in_eof_ at the end of the file.
  bool ReadInput();
  // Between members: starts the next member, or ends the stream at the end of
  // the file (or of its zero padding). 1: a member started, 0: the end, -1: a
  // damaged member (status_ set).
  int NextMember();

  std::string path_;
  int fd_ = -1;
  void* gz_ = nullptr;             // z_stream*; void* keeps zlib.h out of this header
  std::vector<unsigned char> in_;  // compressed input; in_have_ bytes unconsumed at its end
  size_t in_have_ = 0;
  uint64_t in_offset_ = 0;     // file bytes read into in_ so far
  uint64_t member_start_ = 0;  // file offset of the current member's header
  bool in_eof_ = false;
  bool member_done_ = false;  // the current member ended (Z_STREAM_END)
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  uint64_t line_number_ = 0;
  uint64_t text_bytes_ = 0;
  Status status_;
};

// Returns true if the file at `path` starts with the gzip magic bytes.
StatusOr<bool> IsGzipFile(const std::string& path);

}  // namespace ecps
