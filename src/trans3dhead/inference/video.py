"""Compatibility name: video input and output live in :mod:`trans3dhead.data.video_io`."""

from trans3dhead.data.video_io import VideoInfo, VideoReadError, VideoSink, iter_frames, open_video

__all__ = ["VideoInfo", "VideoReadError", "open_video", "iter_frames", "VideoSink"]
