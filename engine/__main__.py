"""``python -m engine ...`` (see engine/cli.py)."""

import os
import sys

# Quiet the native libraries' start-up chatter on stderr (TensorFlow, MediaPipe's absl logging):
# stderr is where the progress bar and one-line errors go.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")  # "can't open camera by index": we say it in words
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg quiet: "moov atom not found" is said in words too

from engine.cli import main  # noqa: E402

sys.exit(main())
