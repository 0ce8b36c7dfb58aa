// PatchflowTestSynth: a small, deterministic subtractive synthesizer built as a VST3 instrument.
//
// Eight voices, each: one oscillator (saw / square / triangle, chosen by "OSC: Waveform"), a resonant
// state-variable low-pass filter ("VCF1: Frequency", "VCF1: Resonance") and a linear ADSR amplitude envelope
// ("ENV1: Attack/Decay/Sustain/Release"). Parameter names and native ranges follow u-he Diva's, so the same
// mapping code drives both. Nothing random: the same MIDI always renders the same samples.

#include <juce_audio_processors/juce_audio_processors.h>

#include <array>
#include <cmath>

namespace
{
constexpr int kNumVoices = 8;
constexpr double kTwoPi = 6.283185307179586;

// Envelope knob 0..100 -> seconds, quadratic so the low end has resolution (0 -> 1 ms, 100 -> maxSeconds).
double envelopeSeconds (float knob, double maxSeconds)
{
    const double x = juce::jlimit (0.0, 1.0, static_cast<double> (knob) / 100.0);
    return 0.001 + maxSeconds * x * x;
}

// Cutoff knob 0..150 -> Hz, exponential over ten octaves from 20 Hz.
double cutoffHz (float knob)
{
    return 20.0 * std::pow (2.0, 10.0 * juce::jlimit (0.0, 150.0, static_cast<double> (knob)) / 150.0);
}

struct Voice
{
    enum class Stage { idle, attack, decay, sustain, release };

    int note = -1;
    float velocity = 0.0f;
    double phase = 0.0;
    double level = 0.0;
    Stage stage = Stage::idle;
    double ic1 = 0.0, ic2 = 0.0; // filter state

    bool active() const { return stage != Stage::idle; }

    void start (int midiNote, float vel)
    {
        note = midiNote;
        velocity = vel;
        phase = 0.0;
        level = 0.0;
        ic1 = ic2 = 0.0;
        stage = Stage::attack;
    }

    void stop() { if (stage != Stage::idle) stage = Stage::release; }
};
} // namespace

class PatchflowTestSynth final : public juce::AudioProcessor
{
public:
    PatchflowTestSynth()
        : juce::AudioProcessor (BusesProperties().withOutput ("Output", juce::AudioChannelSet::stereo(), true))
    {
        auto range = [] (float low, float high) { return juce::NormalisableRange<float> (low, high, 0.01f); };
        addParameter (output = new juce::AudioParameterFloat ({ "output", 1 }, "main: Output", range (0.0f, 200.0f), 100.0f));
        addParameter (attack = new juce::AudioParameterFloat ({ "attack", 1 }, "ENV1: Attack", range (0.0f, 100.0f), 0.0f));
        addParameter (decay = new juce::AudioParameterFloat ({ "decay", 1 }, "ENV1: Decay", range (0.0f, 100.0f), 50.0f));
        addParameter (sustain = new juce::AudioParameterFloat ({ "sustain", 1 }, "ENV1: Sustain", range (0.0f, 100.0f), 80.0f));
        addParameter (release = new juce::AudioParameterFloat ({ "release", 1 }, "ENV1: Release", range (0.0f, 100.0f), 20.0f));
        addParameter (frequency = new juce::AudioParameterFloat ({ "frequency", 1 }, "VCF1: Frequency", range (0.0f, 150.0f), 100.0f));
        addParameter (resonance = new juce::AudioParameterFloat ({ "resonance", 1 }, "VCF1: Resonance", range (0.0f, 100.0f), 0.0f));
        addParameter (tune = new juce::AudioParameterFloat ({ "tune", 1 }, "OSC: Tune1", range (-24.0f, 24.0f), 0.0f));
        addParameter (model = new juce::AudioParameterChoice ({ "model", 1 }, "OSC: Waveform",
                                                              juce::StringArray { "Saw", "Square", "Triangle" }, 0));
    }

    const juce::String getName() const override { return "PatchflowTestSynth"; }
    bool acceptsMidi() const override { return true; }
    bool producesMidi() const override { return false; }
    bool isMidiEffect() const override { return false; }
    double getTailLengthSeconds() const override { return 4.0; }
    int getNumPrograms() override { return 1; }
    int getCurrentProgram() override { return 0; }
    void setCurrentProgram (int) override {}
    const juce::String getProgramName (int) override { return "Default"; }
    void changeProgramName (int, const juce::String&) override {}
    bool hasEditor() const override { return false; }
    juce::AudioProcessorEditor* createEditor() override { return nullptr; }

    bool isBusesLayoutSupported (const BusesLayout& layouts) const override
    {
        const auto out = layouts.getMainOutputChannelSet();
        return out == juce::AudioChannelSet::stereo() || out == juce::AudioChannelSet::mono();
    }

    void prepareToPlay (double newSampleRate, int) override
    {
        sampleRate = newSampleRate;
        for (auto& v : voices) v = Voice {};
    }

    void releaseResources() override {}

    void reset() override
    {
        for (auto& v : voices) v = Voice {};
    }

    void processBlock (juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midi) override
    {
        buffer.clear();
        int position = 0;
        for (const auto metadata : midi)
        {
            render (buffer, position, metadata.samplePosition);
            handle (metadata.getMessage());
            position = metadata.samplePosition;
        }
        render (buffer, position, buffer.getNumSamples());
    }

    void getStateInformation (juce::MemoryBlock& destData) override
    {
        juce::MemoryOutputStream stream (destData, false);
        for (auto* p : getParameters())
            stream.writeFloat (p->getValue());
    }

    void setStateInformation (const void* data, int sizeInBytes) override
    {
        juce::MemoryInputStream stream (data, static_cast<size_t> (sizeInBytes), false);
        for (auto* p : getParameters())
            if (! stream.isExhausted())
                p->setValueNotifyingHost (stream.readFloat());
    }

private:
    void handle (const juce::MidiMessage& message)
    {
        if (message.isNoteOn())
        {
            voiceFor (message.getNoteNumber()).start (message.getNoteNumber(), message.getFloatVelocity());
        }
        else if (message.isNoteOff())
        {
            for (auto& v : voices)
                if (v.active() && v.note == message.getNoteNumber()) v.stop();
        }
        else if (message.isAllNotesOff() || message.isAllSoundOff())
        {
            for (auto& v : voices) v.stop();
        }
    }

    Voice& voiceFor (int note)
    {
        for (auto& v : voices)
            if (v.active() && v.note == note) return v;
        for (auto& v : voices)
            if (! v.active()) return v;
        return voices[static_cast<size_t> (nextSteal++ % kNumVoices)];
    }

    void render (juce::AudioBuffer<float>& buffer, int start, int end)
    {
        if (end <= start) return;
        const double attackStep = 1.0 / (envelopeSeconds (attack->get(), 2.0) * sampleRate);
        const double decayStep = 1.0 / (envelopeSeconds (decay->get(), 4.0) * sampleRate);
        const double releaseStep = 1.0 / (envelopeSeconds (release->get(), 4.0) * sampleRate);
        const double sustainLevel = sustain->get() / 100.0;
        const double gain = 0.25 * output->get() / 100.0;
        const int shape = model->getIndex();

        // Topology-preserving state-variable filter (low-pass output).
        const double fc = juce::jmin (cutoffHz (frequency->get()), 0.45 * sampleRate);
        const double g = std::tan (juce::MathConstants<double>::pi * fc / sampleRate);
        const double k = 2.0 - 1.95 * resonance->get() / 100.0;
        const double a1 = 1.0 / (1.0 + g * (g + k));
        const double a2 = g * a1;
        const double a3 = g * a2;

        for (auto& v : voices)
        {
            if (! v.active()) continue;
            const double hz = 440.0 * std::pow (2.0, (v.note - 69 + tune->get()) / 12.0);
            const double increment = hz / sampleRate;
            for (int i = start; i < end && v.active(); ++i)
            {
                double osc = 0.0;
                switch (shape)
                {
                    case 1: osc = v.phase < 0.5 ? 1.0 : -1.0; break;
                    case 2: osc = 4.0 * std::abs (v.phase - 0.5) - 1.0; break;
                    default: osc = 2.0 * v.phase - 1.0; break;
                }
                v.phase += increment;
                v.phase -= std::floor (v.phase);

                const double v3 = osc - v.ic2;
                const double v1 = a1 * v.ic1 + a2 * v3;
                const double v2 = v.ic2 + a2 * v.ic1 + a3 * v3;
                v.ic1 = 2.0 * v1 - v.ic1;
                v.ic2 = 2.0 * v2 - v.ic2;

                advanceEnvelope (v, attackStep, decayStep, releaseStep, sustainLevel);
                const auto sample = static_cast<float> (v2 * v.level * v.velocity * gain);
                for (int ch = 0; ch < buffer.getNumChannels(); ++ch)
                    buffer.addSample (ch, i, sample);
            }
        }
    }

    static void advanceEnvelope (Voice& v, double attackStep, double decayStep, double releaseStep, double sustainLevel)
    {
        switch (v.stage)
        {
            case Voice::Stage::attack:
                v.level += attackStep;
                if (v.level >= 1.0) { v.level = 1.0; v.stage = Voice::Stage::decay; }
                break;
            case Voice::Stage::decay:
                v.level -= decayStep * (1.0 - sustainLevel);
                if (v.level <= sustainLevel) { v.level = sustainLevel; v.stage = Voice::Stage::sustain; }
                break;
            case Voice::Stage::sustain:
                v.level = sustainLevel;
                break;
            case Voice::Stage::release:
                v.level -= releaseStep;
                if (v.level <= 0.0) { v.level = 0.0; v.stage = Voice::Stage::idle; }
                break;
            case Voice::Stage::idle:
                break;
        }
    }

    juce::AudioParameterFloat* output = nullptr;
    juce::AudioParameterFloat* attack = nullptr;
    juce::AudioParameterFloat* decay = nullptr;
    juce::AudioParameterFloat* sustain = nullptr;
    juce::AudioParameterFloat* release = nullptr;
    juce::AudioParameterFloat* frequency = nullptr;
    juce::AudioParameterFloat* resonance = nullptr;
    juce::AudioParameterFloat* tune = nullptr;
    juce::AudioParameterChoice* model = nullptr;

    std::array<Voice, kNumVoices> voices {};
    int nextSteal = 0;
    double sampleRate = 44100.0;

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR (PatchflowTestSynth)
};

juce::AudioProcessor* JUCE_CALLTYPE createPluginFilter()
{
    return new PatchflowTestSynth();
}
