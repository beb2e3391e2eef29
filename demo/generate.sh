#!/usr/bin/env bash
# Regenerates the bundled demo streams under demo/ (ts/, fmp4/, byterange/).
# Needs ffmpeg + ffprobe with libx264 (Debian's /usr/bin/ffmpeg is fine) and coreutils/awk.
# Usage: demo/generate.sh            (FFMPEG=/path/to/ffmpeg FFPROBE=... to override)
#
# Everything is encoded once (one H.264 file per rendition + one AAC file), then
# packaged three ways with -c copy, so all three formats carry identical media.
# Output is deterministic for a given ffmpeg/x264 build (bitexact flags, no metadata,
# x264 on a single thread: its ABR rate control with >1 thread is not repeatable),
# so regenerating yields no diff.
set -euo pipefail

FFMPEG=${FFMPEG:-ffmpeg}
FFPROBE=${FFPROBE:-ffprobe}
DEMO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$DEMO_DIR"

FPS=24
GOP=48            # 2 s at 24 fps: every segment starts on an IDR frame
SEG=2             # target segment duration (s)
VDUR=10           # video duration (s) -> 240 frames, 5 segments
ADUR=9.95         # audio slightly shorter than video: the AAC encoder adds one 21.3 ms priming
                  # frame (kept as a real frame: raw ADTS has no edit list, so audio and video
                  # both start at 0 and hls.js sees no hole), and 10.00 s left a ~21 ms sixth
                  # audio segment. 9.95 s -> 468 AAC frames = 9.984 s.
ABR=48k           # AAC-LC mono

# name  width height video-bitrate level
LADDER=(
  "234p 416 234 80k 2.1"
  "360p 640 360 160k 3.0"
  "540p 960 540 280k 3.1"
)
BYTERANGE_RENDITION=360p

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ff() { "$FFMPEG" -hide_banner -nostdin -loglevel error -y "$@"; }
# Common output flags: deterministic files, no metadata/encoder strings.
BITEXACT=(-fflags +bitexact -map_metadata -1 -map_chapters -1)

# ---- 1. encode -------------------------------------------------------------
ff -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=${ADUR}" \
   -c:a aac -b:a "$ABR" -ac 1 -flags:a +bitexact "${BITEXACT[@]}" "$tmp/audio.aac"

for r in "${LADDER[@]}"; do
  read -r name w h vb level <<<"$r"
  kbps=${vb%k}
  ff -f lavfi -i "testsrc2=size=${w}x${h}:rate=${FPS}:duration=${VDUR}" \
     -c:v libx264 -preset veryfast -profile:v main -level:v "$level" -pix_fmt yuv420p \
     -b:v "$vb" -maxrate "$((kbps * 6 / 5))k" -bufsize "$((kbps * 2))k" \
     -g "$GOP" -keyint_min "$GOP" -sc_threshold 0 -bf 0 -threads 1 \
     -flags:v +bitexact "${BITEXACT[@]}" "$tmp/$name.mp4"
done

# Sanity: the CODECS strings below assume AAC-LC (mp4a.40.2) and 240 video frames each.
aprof=$("$FFPROBE" -v error -select_streams a:0 -show_entries stream=profile -of default=nw=1:nk=1 "$tmp/audio.aac")
[[ $aprof == LC ]] || { echo "expected AAC-LC audio, got '$aprof'" >&2; exit 1; }
for r in "${LADDER[@]}"; do
  read -r name _ <<<"$r"
  frames=$("$FFPROBE" -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets \
           -of default=nw=1:nk=1 "$tmp/$name.mp4")
  [[ $frames == $((FPS * VDUR)) ]] || { echo "$name: expected $((FPS * VDUR)) frames, got $frames" >&2; exit 1; }
done

# ---- helpers -----------------------------------------------------------------
# RFC 6381 codec string from the avcC box of an MP4: avc1.PPCCLL
# (profile_idc, constraint flags, level_idc - the three bytes after configurationVersion).
avc_codec() {
  local off
  off=$(LC_ALL=C grep -obUa avcC "$1" | head -n1 | cut -d: -f1)
  printf 'avc1.%s' "$(od -An -tx1 -j "$((off + 5))" -N3 "$1" | tr -d ' \n')"
}

# "peak average" bit rate (bit/s) of a media playlist, from segment sizes
# (file size, or EXT-X-BYTERANGE length) and EXTINF durations.
playlist_rates() {
  local pl=$1 dir
  dir=$(dirname "$pl")
  awk -v dir="$dir" '
    /^#EXTINF:/        { d = substr($0, 9); sub(/,.*/, "", d); next }
    /^#EXT-X-BYTERANGE:/ { br = substr($0, 18); sub(/@.*/, "", br); next }
    /^#/ || /^$/       { next }
    {
      if (br != "") size = br
      else { cmd = "stat -c %s \"" dir "/" $0 "\""; cmd | getline size; close(cmd) }
      rate = size * 8 / d
      if (rate > peak) peak = rate
      bytes += size; total += d; br = ""
    }
    END { printf "%d %d\n", peak + 0.999, bytes * 8 / total + 0.999 }
  ' "$pl"
}

HLS_COMMON=(-f hls -hls_time "$SEG" -hls_list_size 0 -hls_playlist_type vod)

# ---- 2. package ----------------------------------------------------------------
rm -rf ts fmp4 byterange
mkdir -p ts fmp4/audio byterange

# fMP4 audio rendition (shared by every fMP4 variant)
ff -i "$tmp/audio.aac" -map 0:a -c copy -bsf:a aac_adtstoasc "${BITEXACT[@]}" "${HLS_COMMON[@]}" \
   -hls_segment_type fmp4 -hls_fmp4_init_filename init.mp4 \
   -hls_segment_filename fmp4/audio/seg_%03d.m4s fmp4/audio/index.m3u8
read -r apeak aavg < <(playlist_rates fmp4/audio/index.m3u8)

ts_master="#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
"
fmp4_master="#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"Sine\",LANGUAGE=\"und\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"1\",URI=\"audio/index.m3u8\"
"

for r in "${LADDER[@]}"; do
  read -r name w h vb level <<<"$r"
  codec=$(avc_codec "$tmp/$name.mp4")
  mkdir -p "ts/$name" "fmp4/$name"

  # MPEG-TS, video + audio muxed
  ff -i "$tmp/$name.mp4" -i "$tmp/audio.aac" -map 0:v -map 1:a -c copy "${BITEXACT[@]}" \
     "${HLS_COMMON[@]}" -hls_segment_filename "ts/$name/seg_%03d.ts" "ts/$name/index.m3u8"
  read -r peak avg < <(playlist_rates "ts/$name/index.m3u8")
  ts_master+="#EXT-X-STREAM-INF:BANDWIDTH=$peak,AVERAGE-BANDWIDTH=$avg,RESOLUTION=${w}x${h},CODECS=\"$codec,mp4a.40.2\",FRAME-RATE=$FPS.000
$name/index.m3u8
"

  # fMP4/CMAF, video only (audio comes from the AUDIO group)
  ff -i "$tmp/$name.mp4" -map 0:v -c copy "${BITEXACT[@]}" "${HLS_COMMON[@]}" \
     -hls_segment_type fmp4 -hls_fmp4_init_filename init.mp4 \
     -hls_segment_filename "fmp4/$name/seg_%03d.m4s" "fmp4/$name/index.m3u8"
  read -r peak avg < <(playlist_rates "fmp4/$name/index.m3u8")
  fmp4_master+="#EXT-X-STREAM-INF:BANDWIDTH=$((peak + apeak)),AVERAGE-BANDWIDTH=$((avg + aavg)),RESOLUTION=${w}x${h},CODECS=\"$codec,mp4a.40.2\",FRAME-RATE=$FPS.000,AUDIO=\"aac\"
$name/index.m3u8
"

  # single-file fMP4 addressed by EXT-X-BYTERANGE (init segment by byte range too)
  if [[ $name == "$BYTERANGE_RENDITION" ]]; then
    ff -i "$tmp/$name.mp4" -i "$tmp/audio.aac" -map 0:v -map 1:a -c copy -bsf:a aac_adtstoasc \
       "${BITEXACT[@]}" "${HLS_COMMON[@]}" -hls_segment_type fmp4 -hls_flags single_file \
       -hls_segment_filename byterange/main.mp4 byterange/main.m3u8
  fi
done

printf '%s' "$ts_master" > ts/master.m3u8
printf '%s' "$fmp4_master" > fmp4/master.m3u8

echo "demo content written to $DEMO_DIR:"
du -sh --apparent-size --total ts fmp4 byterange
