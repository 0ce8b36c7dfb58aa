"""The Diva parameter list as compact text: one line per plugin parameter, in plugin index order.

Columns: plugin parameter name | ``.h2p`` section | ``.h2p`` key | kind and range | default. The kind is
``c LOW HIGH`` (continuous), ``i LOW HIGH`` (integer grid), ``k N`` (categorical, N choices), ``b`` (on/off),
``s`` (a modulation source: one of the 24 ``#ms`` names) or ``fx`` (an effect-slot module). The default is a
normalised plugin value (the study's ``param_nomod.json``: the plugin's initial patch without modulation).

The index order and names are the plugin's (``diva_params.txt`` of the Flow Synthesizer study); ranges are the
native ranges written in ``.h2p`` files, checked against the normalised defaults of that study (a default of
``1/23`` on a source parameter is source 1 of 24) and against the values found in real presets.
"""

TABLE = """
main: Output|main|CcOp|c 0 200|0.5
main: Active #FX1|main|#FX1|b|0
main: Active #FX2|main|#FX2|b|0
PCore: LED Colour|PCore|LED|c 0 1|0
VCC: Voices|VCC|Voices|k 8|0.428571
VCC: Voice Stack|VCC|Voicing|i 1 8|0
VCC: Mode|VCC|Mode|k 5|0
VCC: GlideMode|VCC|PortaM|b|0
VCC: Glide|VCC|Porta|c 0 100|0
VCC: Glide2|VCC|Porta2|c -100 100|0.5
VCC: GlideRange|VCC|PRange|c 0 100|1
VCC: PitchBend Up|VCC|PB|i 0 26|0.0769231
VCC: PitchBend Down|VCC|PBD|i 0 26|0.0769231
VCC: TuningMode|VCC|MTunS|b|0
VCC: Transpose|VCC|Trsp|i -24 24|0.25
VCC: FineTuneCents|VCC|FTun|c -100 100|0.5
VCC: Note Priority|VCC|Prior|k 3|0
VCC: MultiCore|VCC|MuCore|b|0
OPT: Accuracy|OPT|Acc|k 4|0
OPT: OfflineAcc|OPT|OffAcc|b|0
OPT: TuneSlop|OPT|TSlop|c 0 100|0.35
OPT: CutoffSlop|OPT|CSlop|c 0 100|0.1
OPT: GlideSlop|OPT|GSlop|c 0 100|0.1
OPT: PWSlop|OPT|PSlop|c 0 100|0.01
OPT: EnvrateSlop|OPT|ESlop|c 0 100|0.1
OPT: V1Mod|OPT|V1Mod|c -100 100|0.5
OPT: V2Mod|OPT|V2Mod|c -100 100|0.5
OPT: V3Mod|OPT|V3Mod|c -100 100|0.5
OPT: V4Mod|OPT|V4Mod|c -100 100|0.5
OPT: V5Mod|OPT|V5Mod|c -100 100|0.5
OPT: V6Mod|OPT|V6Mod|c -100 100|0.5
OPT: V7Mod|OPT|V7Mod|c -100 100|0.5
OPT: V8Mod|OPT|V8Mod|c -100 100|0.5
ENV1: Attack|ENV1|Atk|c 0 100|0.01
ENV1: Decay|ENV1|Dec|c 0 100|0.5
ENV1: Sustain|ENV1|Sus|c 0 100|1
ENV1: Release|ENV1|Rel|c 0 100|0.2
ENV1: Velocity|ENV1|Vel|c 0 100|0
ENV1: Model|ENV1|Model|k 3|0
ENV1: Trigger|ENV1|Trig|k 4|0
ENV1: Quantise|ENV1|Quant|b|0
ENV1: Curve|ENV1|Crve|b|0
ENV1: Release On|ENV1|RelOn|b|0
ENV1: KeyFollow|ENV1|KeyFlw|c 0 100|0
ENV2: Attack|ENV2|Atk|c 0 100|0.01
ENV2: Decay|ENV2|Dec|c 0 100|0.5
ENV2: Sustain|ENV2|Sus|c 0 100|1
ENV2: Release|ENV2|Rel|c 0 100|0.2
ENV2: Velocity|ENV2|Vel|c 0 100|0
ENV2: Model|ENV2|Model|k 3|0
ENV2: Trigger|ENV2|Trig|k 4|0
ENV2: Quantise|ENV2|Quant|b|0
ENV2: Curve|ENV2|Crve|b|0
ENV2: Release On|ENV2|RelOn|b|0
ENV2: KeyFollow|ENV2|KeyFlw|c 0 100|0
LFO1: Sync|LFO1|Sync|i -3 23|0.192308
LFO1: Restart|LFO1|Trig|k 4|0.333333
LFO1: Waveform|LFO1|Wave|k 8|0.142857
LFO1: Phase|LFO1|Phse|c 0 100|0
LFO1: Delay|LFO1|Dly|c 0 100|0
LFO1: DepthMod Src1|LFO1|DMS1|s|0
LFO1: DepthMod Dpt1|LFO1|DMD1|c 0 100|1
LFO1: Rate|LFO1|Rate|c -5 5|0.5
LFO1: FreqMod Src1|LFO1|FMS1|s|0
LFO1: FreqMod Dpt|LFO1|FMD1|c -5 5|0.5
LFO2: Sync|LFO2|Sync|i -3 23|0.346154
LFO2: Restart|LFO2|Trig|k 4|0.333333
LFO2: Waveform|LFO2|Wave|k 8|0.142857
LFO2: Phase|LFO2|Phse|c 0 100|0
LFO2: Delay|LFO2|Dly|c 0 100|0
LFO2: DepthMod Src1|LFO2|DMS1|s|0
LFO2: DepthMod Dpt1|LFO2|DMD1|c 0 100|0
LFO2: Rate|LFO2|Rate|c -5 5|0.5
LFO2: FreqMod Src1|LFO2|FMS1|s|0
LFO2: FreqMod Dpt|LFO2|FMD1|c -5 5|0.5
MOD: Quantise|MOD|Quant|c 0 100|0
MOD: Slew Rate|MOD|Slew|c 0 100|0.5
MOD: RectifySource|MOD|RSrc|s|0
MOD: InvertSource|MOD|ISrc|s|0
MOD: QuantiseSource|MOD|QSrc|s|0
MOD: LagSource|MOD|LSrc|s|0
MOD: AddSource1|MOD|A1Src|s|0
MOD: AddSource2|MOD|A2Src|s|0
MOD: MulSource1|MOD|M1Src|s|0
MOD: MulSource2|MOD|M2Src|s|0
OSC: Model|OSC|Model|k 5|0
OSC: Tune1|OSC|Tune1|c -24 24|0.5
OSC: Tune2|OSC|Tune2|c -24 24|0.5
OSC: Tune3|OSC|Tune3|c -24 24|0.5
OSC: Vibrato|OSC|VtoD|c 0 100|0
OSC: PulseWidth|OSC|PW|c 0 100|0.5
OSC: Shape1|OSC|Shape1|c 0 10|0.5
OSC: Shape2|OSC|Shape2|c 0 10|0.5
OSC: Shape3|OSC|Shape3|c 0 10|0.5
OSC: FM|OSC|FM|c 0 100|0
OSC: Sync2|OSC|Sync2|b|0
OSC: OscMix|OSC|OscMix|c 0 100|0.5
OSC: Volume1|OSC|Vol1|c 0 100|1
OSC: Volume2|OSC|Vol2|c 0 100|1
OSC: Volume3|OSC|Vol3|c 0 100|1
OSC: PulseShape|OSC|PWShp|k 4|0.333333
OSC: SawShape|OSC|SawShp|k 5|0
OSC: SuboscShape|OSC|SubShp|k 5|0
OSC: Tune1ModSrc|OSC|TM1Src|s|0
OSC: Tune1ModDepth|OSC|TM1Dpt|c -24 24|0.5
OSC: Tune2ModSrc|OSC|TM2Src|s|0
OSC: Tune2ModDepth|OSC|TM2Dpt|c -24 24|0.5
OSC: PWModSrc|OSC|PWMSrc|s|0
OSC: PWModDepth|OSC|PWMDpt|c -50 50|0.5
OSC: ShapeSrc|OSC|Sh1Src|s|0
OSC: ShapeDepth|OSC|Sh1Dpt|c -50 50|0.5
OSC: Triangle1On|OSC|Tri1|b|0
OSC: Sine2On|OSC|Sin2|b|0
OSC: Saw1On|OSC|Saw1|b|1
OSC: Pwm1On|OSC|PWM1|b|0
OSC: Triangle2On|OSC|Tri2|b|0
OSC: Saw2On|OSC|Saw2|b|1
OSC: Pulse2On|OSC|PW2|b|0
OSC: PWM2On|OSC|PWM2|b|1
OSC: Noise1On|OSC|Noise1|b|0
OSC: ShapeModel|OSC|triSp|k 3|0.5
OSC: Sync3|OSC|Sync3|b|0
OSC: NoiseVol|OSC|Noise|c 0 100|0
OSC: NoiseColor|OSC|NoiseC|b|0
OSC: TuneModOsc1|OSC|TM1On|b|0
OSC: TuneModOsc2|OSC|TM2On|b|0
OSC: TuneModOsc3|OSC|TM3On|b|0
OSC: ShapeModOsc1|OSC|SM1On|b|0
OSC: ShapeModOsc2|OSC|SM2On|b|0
OSC: ShapeModOsc3|OSC|SM3On|b|0
OSC: TuneModMode|OSC|TMmode|k 4|0
OSC: EcoWave1|OSC|Wave1|i 1 4|0
OSC: EcoWave2|OSC|Wave2|i 1 4|0
OSC: RingmodPulse|OSC|RMPwm|b|0
OSC: Drift|OSC|Drift|c 0 200|0.175
OSC: FmModSrc|OSC|FmSrc|s|0
OSC: FmModDepth|OSC|FmDpt|c -100 100|0.5
OSC: NoiseVolModSrc|OSC|NoisSrc|s|0
OSC: NoiseVolModDepth|OSC|NoisDpt|c -100 100|0.5
HPF: Model|HPF|Model|k 4|0
HPF: Frequency|HPF|Freq|c 0 150|0
HPF: Resonance|HPF|Res|c 0 100|0
HPF: Revision|HPF|Rev|i 1 2|0
HPF: KeyFollow|HPF|KeyScl|c 0 100|0
HPF: FreqModSrc|HPF|FMSrc|s|0.652174
HPF: FreqModDepth|HPF|FMDpt|c -120 120|0.5
HPF: Post-HPF Freq|HPF|PFreq|i -1 3|0.25
VCF1: Model|VCF1|Model|k 5|0
VCF1: Frequency|VCF1|Freq|c 0 150|0.583333
VCF1: Resonance|VCF1|Res|c 0 100|0
VCF1: FreqModSrc|VCF1|FMSrc|s|0
VCF1: FreqModDepth|VCF1|FMDpt|c -120 120|0.5
VCF1: FreqMod2Src|VCF1|FM2Src|s|0
VCF1: FreqMod2Depth|VCF1|FM2Dpt|c -120 120|0.5
VCF1: KeyFollow|VCF1|KeyScl|c 0 100|0
VCF1: FilterFM|VCF1|FFM|c -100 100|0.5
VCF1: LadderMode|VCF1|LMode|b|0
VCF1: LadderColor|VCF1|LColor|b|1
VCF1: SlnKyRevision|VCF1|SkRev|i 1 2|0
VCF1: SvfMode|VCF1|SvfMode|k 4|0
VCF1: Feedback|VCF1|Fback|c 0 100|0
VCF1: ResModSrc|VCF1|ResSrc|s|0
VCF1: ResModDepth|VCF1|ResDpt|c -100 100|0.5
VCF1: FmAmountModSrc|VCF1|FfmSrc|s|0
VCF1: FmAmountModDepth|VCF1|FfmDpt|c -100 100|0.5
VCF1: FeedbackModSrc|VCF1|FbSrc|s|0
VCF1: FeedbackModDepth|VCF1|FbDpt|c -100 100|0.5
VCA1: Pan|VCA1|Pan|c -100 100|0.5
VCA1: Volume|VCA1|Vol|c 0 100|0.5
VCA1: VCA|VCA1|VCA|b|1
VCA1: Modulation|VCA1|ModSrc|s|0
VCA1: ModDepth|VCA1|ModDpt|c -100 100|0.5
VCA1: PanModulation|VCA1|PanSrc|s|0
VCA1: PanModDepth|VCA1|PanDpt|c -100 100|0.5
VCA1: Mode|VCA1|Mode|b|0
VCA1: Offset|VCA1|Offset|c -1 1|0.5
Scope1: Frequency|Scope1|frq|c -6 10|0.1875
Scope1: Scale|Scope1|scl|c -2 3|0.6
FX1: Module|FX1|Module|fx|0
Chrs1: Type|Chrs1|Type|k 3|0
Chrs1: Rate|Chrs1|Rate|c 0 100|0.5
Chrs1: Depth|Chrs1|Depth|c 0 100|0.5
Chrs1: Wet|Chrs1|Wet|c 0 100|1
Phase1: Type|Phase1|Type|k 2|0
Phase1: Rate|Phase1|Rate|c 0 100|0.5
Phase1: Feedback|Phase1|FB|c 0 100|0
Phase1: Stereo|Phase1|Stereo|c -50 50|0.5
Phase1: Sync|Phase1|Sync|b|0
Phase1: Phase|Phase1|Phase|c 0 100|0
Phase1: Wet|Phase1|Wet|c 0 100|1
Plate1: PreDelay|Plate1|Pre|c 0 200|0
Plate1: Diffusion|Plate1|Diff|c 0 100|1
Plate1: Damp|Plate1|Damp|c 0 100|0.8
Plate1: Decay|Plate1|Decay|c 0 100|0.5
Plate1: Size|Plate1|Size|c 0 200|0.75
Plate1: Dry|Plate1|Dry|c 0 100|0.9
Plate1: Wet|Plate1|Wet|c 0 100|0.4
Delay1: Left Delay|Delay1|LDel|c 1 16|0.0666667
Delay1: Center Delay|Delay1|CDel|c 1 16|0.2
Delay1: Right Delay|Delay1|RDel|c 1 16|0.2
Delay1: Side Vol|Delay1|SVol|c 0 100|0.2
Delay1: Center Vol|Delay1|CVol|c 0 100|0
Delay1: Feedback|Delay1|FeedB|c 0 100|0.25
Delay1: HP|Delay1|HP|c 0 100|0
Delay1: LP|Delay1|LP|c 0 100|1
Delay1: Dry|Delay1|Dry|c 0 100|1
Delay1: Wow|Delay1|Wow|c 0 100|0.5
Rtary1: Mode|Rtary1|Mode|k 3|0
Rtary1: Mix|Rtary1|Mix|c 0 100|1
Rtary1: Balance|Rtary1|Bal|c 0 100|0.5
Rtary1: Drive|Rtary1|Drive|c 0 100|0
Rtary1: Stereo|Rtary1|Stereo|c 0 100|1
Rtary1: Out|Rtary1|Out|c -24 24|0.5
Rtary1: Slow|Rtary1|Slow|c 0 100|0.3
Rtary1: Fast|Rtary1|Fast|c 0 100|0.85
Rtary1: RiseTime|Rtary1|RTime|c 0 100|0.5
Rtary1: Controller|Rtary1|Cont|b|0
FX2: Module|FX2|Module|fx|0
Chrs2: Type|Chrs2|Type|k 3|0
Chrs2: Rate|Chrs2|Rate|c 0 100|0.5
Chrs2: Depth|Chrs2|Depth|c 0 100|0.5
Chrs2: Wet|Chrs2|Wet|c 0 100|1
Phase2: Type|Phase2|Type|k 2|0
Phase2: Rate|Phase2|Rate|c 0 100|0.5
Phase2: Feedback|Phase2|FB|c 0 100|0
Phase2: Stereo|Phase2|Stereo|c -50 50|0.5
Phase2: Sync|Phase2|Sync|b|0
Phase2: Phase|Phase2|Phase|c 0 100|0
Phase2: Wet|Phase2|Wet|c 0 100|1
Plate2: PreDelay|Plate2|Pre|c 0 200|0
Plate2: Diffusion|Plate2|Diff|c 0 100|1
Plate2: Damp|Plate2|Damp|c 0 100|0.8
Plate2: Decay|Plate2|Decay|c 0 100|0.5
Plate2: Size|Plate2|Size|c 0 200|0.75
Plate2: Dry|Plate2|Dry|c 0 100|0.9
Plate2: Wet|Plate2|Wet|c 0 100|0.4
Delay2: Left Delay|Delay2|LDel|c 1 16|0.0666667
Delay2: Center Delay|Delay2|CDel|c 1 16|0.2
Delay2: Right Delay|Delay2|RDel|c 1 16|0.2
Delay2: Side Vol|Delay2|SVol|c 0 100|0.2
Delay2: Center Vol|Delay2|CVol|c 0 100|0
Delay2: Feedback|Delay2|FeedB|c 0 100|0.25
Delay2: HP|Delay2|HP|c 0 100|0
Delay2: LP|Delay2|LP|c 0 100|1
Delay2: Dry|Delay2|Dry|c 0 100|1
Delay2: Wow|Delay2|Wow|c 0 100|0.5
Rtary2: Mode|Rtary2|Mode|k 3|0
Rtary2: Mix|Rtary2|Mix|c 0 100|1
Rtary2: Balance|Rtary2|Bal|c 0 100|0.5
Rtary2: Drive|Rtary2|Drive|c 0 100|0
Rtary2: Stereo|Rtary2|Stereo|c 0 100|1
Rtary2: Out|Rtary2|Out|c -24 24|0.5
Rtary2: Slow|Rtary2|Slow|c 0 100|0.3
Rtary2: Fast|Rtary2|Fast|c 0 100|0.85
Rtary2: RiseTime|Rtary2|RTime|c 0 100|0.5
Rtary2: Controller|Rtary2|Cont|b|0
CLK: Multiply|CLK|Mult|c 50 200|0.333333
CLK: TimeBase|CLK|Base|k 4|0.666667
CLK: Swing|CLK|Swing|c 0 100|0
ARP: Direction|ARP|Dir|k 6|0.2
ARP: Octaves|ARP|Oct|i 1 4|0
ARP: Multiply|ARP|CDiv|k 5|0
ARP: Restart|ARP|Rstrt|b|0
ARP: OnOff|ARP|OnOff|b|0
OSC: DigitalShape2|OSC|DgtlSp2|c 0 100|0
OSC: DigitalShape3|OSC|DgtlSp3|c 0 100|0.5
OSC: DigitalShape4|OSC|DgtlSp4|c 0 100|0
VCF1: ShapeMix|VCF1|ShpMix|c 0 100|0
VCF1: ShapeModSrc|VCF1|SMSrc|s|0
VCF1: ShapeModDepth|VCF1|SMDpt|c -100 100|0.5
VCF1: UhbieBandpass|VCF1|BpUbie|b|0
ARP: Order|ARP|Order|k 4|0
LFO1: Polarity|LFO1|Polar|b|0
LFO2: Polarity|LFO2|Polar|b|0
Phase1: Depth|Phase1|Depth|c 0 100|1
Phase1: Center|Phase1|Center|c 0 100|0.5
Phase2: Depth|Phase2|Depth|c 0 100|1
Phase2: Center|Phase2|Center|c 0 100|0.5
OSC: DigitalType1|OSC|DgtlTp1|k 7|0
OSC: DigitalType2|OSC|DgtlTp2|k 7|0
OSC: DigitalAntiAlias|OSC|DNoAlia|b|0
"""
